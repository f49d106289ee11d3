#include "ringlb/operator/api_server.h"

namespace ringlb::op {

// Self-contained: inline CSS, SVG and script; polls /v1/status every second.
std::string_view statusPageHtml() {
  static constexpr std::string_view kPage = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ringlb operator</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.3em;margin:0 0 .2em} h2{font-size:1.1em;margin:0}
.ring{display:flex;gap:2em;flex-wrap:wrap;background:#fff;border:1px solid #ddd;border-radius:8px;padding:1em;margin:1em 0}
table{border-collapse:collapse} td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #eee;font-variant-numeric:tabular-nums}
.Ready{color:#1a7f37}.NotReady,.Stopped{color:#cf222e}.Draining{color:#9a6700}.Starting{color:#0969da}
.cond{display:inline-block;margin:2px 6px 2px 0;padding:1px 6px;border-radius:4px;background:#eee}
.cond.True{background:#dafbe1}.cond.bad{background:#ffebe9}
.err{background:#ffebe9;border:1px solid #cf222e;border-radius:6px;padding:.5em;margin:.5em 0;white-space:pre-wrap}
.muted{color:#777} svg text{font:11px system-ui,sans-serif}
</style></head><body>
<h1>ringlb operator</h1>
<div class="muted" id="meta">loading…</div>
<div id="errors"></div><div id="rings"></div>
<script>
"use strict";
const colours={Ready:"#2da44e",Starting:"#54aeff",NotReady:"#cf222e",Stopped:"#8c959f",Draining:"#d4a72c"};
function esc(s){return String(s??"").replace(/[&<>"']/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));}
function arc(cx,cy,r0,r1,a0,a1){
  const p=(r,a)=>[cx+r*Math.sin(a),cy-r*Math.cos(a)];
  if(a1-a0>=2*Math.PI-1e-6)a1=a0+2*Math.PI-1e-4;
  const large=(a1-a0)>Math.PI?1:0,[x0,y0]=p(r1,a0),[x1,y1]=p(r1,a1),[x2,y2]=p(r0,a1),[x3,y3]=p(r0,a0);
  return `M${x0},${y0}A${r1},${r1} 0 ${large} 1 ${x1},${y1}L${x2},${y2}A${r0},${r0} 0 ${large} 0 ${x3},${y3}Z`;
}
function donut(ring){
  const size=220,c=size/2;let a=0,svg=`<svg width="${size}" height="${size}" viewBox="0 0 ${size} ${size}" role="img" aria-label="ring ${esc(ring.name)}">`;
  if(!ring.members.length)svg+=`<circle cx="${c}" cy="${c}" r="80" fill="none" stroke="#ddd" stroke-width="30"/>`;
  for(const m of ring.members){
    const span=(m.share||0)*2*Math.PI;if(span<=0)continue;
    svg+=`<path d="${arc(c,c,65,95,a,a+span)}" fill="${colours[m.state]||"#999"}" stroke="#fff" stroke-width="1.5"><title>${esc(m.id)} ${esc(m.state)} ${(100*m.share).toFixed(1)}%</title></path>`;
    const mid=a+span/2;if(span>0.25)svg+=`<text x="${c+80*Math.sin(mid)}" y="${c-80*Math.cos(mid)+4}" text-anchor="middle" fill="#fff">${esc(m.id.split("-").pop())}</text>`;
    a+=span;
  }
  svg+=`<text x="${c}" y="${c-4}" text-anchor="middle" style="font-size:15px;font-weight:600">v${ring.version}</text>`;
  svg+=`<text x="${c}" y="${c+14}" text-anchor="middle">${ring.readyReplicas}/${ring.desiredReplicas} ready</text></svg>`;
  return svg;
}
function render(s){
  document.getElementById("meta").textContent=`runtime ${s.runtime} · ${s.rings.length} ring(s) · updated ${new Date().toLocaleTimeString()}`;
  const errs=Object.entries(s.resourceErrors||{});
  document.getElementById("errors").innerHTML=errs.map(([k,e])=>`<div class="err"><b>Invalid resource ${esc(k)}</b> (last good state kept): ${esc(e)}</div>`).join("");
  document.getElementById("rings").innerHTML=s.rings.map(r=>{
    const conds=(r.conditions||[]).map(c=>{const bad=(c.type==="Degraded")===(c.status==="True");return `<span class="cond ${bad?"bad":"True"}" title="${esc(c.message)}">${esc(c.type)}=${esc(c.status)} (${esc(c.reason)})</span>`;}).join("");
    const rows=r.members.map(m=>`<tr><td>${esc(m.id)}</td><td class="${esc(m.state)}">${esc(m.state)}</td><td>${esc(m.address)}</td><td>${(100*(m.share||0)).toFixed(1)}%</td><td>${m.restarts}</td><td class="muted">${esc(m.lastFailure)}</td></tr>`).join("");
    const hist=(r.history||[]).slice(-8).reverse().map(h=>`<tr><td>v${h.version}</td><td>${new Date(h.unixMillis).toLocaleTimeString()}</td><td>${(100*h.movedKeyspace).toFixed(1)}%</td><td class="muted">${esc(h.summary)}</td></tr>`).join("");
    return `<div class="ring"><div>${donut(r)}</div><div><h2>${esc(r.key)}</h2><div>generation ${r.generation} · ring version ${r.version} · ${esc(r.algorithm)}</div><div>${conds}</div>
      ${r.error?`<div class="err">${esc(r.error)}</div>`:""}
      <table><tr><th>member</th><th>state</th><th>address</th><th>keyspace</th><th>restarts</th><th>last failure</th></tr>${rows}</table>
      <h2 style="margin-top:.8em">recent versions</h2><table><tr><th>version</th><th>time</th><th>moved</th><th>change</th></tr>${hist}</table></div></div>`;
  }).join("");
}
async function tick(){
  try{const r=await fetch("/v1/status",{cache:"no-store"});render(await r.json());}
  catch(e){document.getElementById("meta").textContent="operator unreachable: "+e;}
  setTimeout(tick,1000);
}
tick();
</script></body></html>
)HTML";
  return kPage;
}

}  // namespace ringlb::op
