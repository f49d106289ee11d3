#include "ringlb/operator/api_server.h"

namespace ringlb::op {

// Self-contained: inline CSS, SVG and script, no external assets. Polls
// /v1/status every second; each ring's card is built once and its parts are
// updated in place, so the key box keeps its text and focus across refreshes
// and the ring view is redrawn only when the ring changes.
std::string_view statusPageHtml() {
  static constexpr std::string_view kPage = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ringlb operator</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><link rel="icon" href="data:,">
<style>
:root{--bg:#f6f8fa;--card:#fff;--fg:#1f2328;--muted:#57606a;--line:#d0d7de;--good-bg:#dafbe1;--good-fg:#116329;--bad-bg:#ffebe9;--bad-fg:#a40e26;
--info-bg:#ddf4ff;--info-fg:#0a3069;--neutral-bg:#eaeef2;--neutral-fg:#24292f;--warn-bg:#fff8c5;--warn-fg:#6f4e00;--link:#0550ae;
--s-Ready:#2da44e;--s-Starting:#218bff;--s-NotReady:#cf222e;--s-Stopped:#cf222e;--s-Draining:#bf8700}
@media (prefers-color-scheme: dark){:root{--bg:#0d1117;--card:#161b22;--fg:#e6edf3;--muted:#9da7b3;--line:#30363d;--good-bg:#0f3d1f;--good-fg:#7ee2a8;
--bad-bg:#4a0f16;--bad-fg:#ffb3b8;--info-bg:#0c2d6b;--info-fg:#a5d6ff;--neutral-bg:#30363d;--neutral-fg:#e6edf3;--warn-bg:#4b3a00;--warn-fg:#f8e3a1;--link:#79c0ff;
--s-Ready:#3fb950;--s-Starting:#58a6ff;--s-NotReady:#f85149;--s-Stopped:#f85149;--s-Draining:#d29922}}
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:var(--fg);background:var(--bg)}
header,main{padding:0 1.5em} header{padding-top:1em} a{color:var(--link)}
h1{font-size:1.35em;margin:0 0 .2em} h2{font-size:1.15em;margin:0 0 .3em} h3{font-size:1em;margin:.9em 0 .3em}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:1em;margin:1em 0}
.top{display:flex;gap:1.5em;flex-wrap:wrap;align-items:flex-start}
table{border-collapse:collapse;margin:.2em 0} td,th{padding:2px 7px;text-align:left;border-bottom:1px solid var(--line);font-variant-numeric:tabular-nums;white-space:nowrap}
td.num,th.num{text-align:right} .scroll{overflow-x:auto;max-width:100%}
.st{font-weight:600}.st-Ready{color:var(--good-fg)}.st-NotReady,.st-Stopped{color:var(--bad-fg)}.st-Draining{color:var(--warn-fg)}.st-Starting{color:var(--info-fg)}
.chip{display:inline-block;margin:2px 6px 2px 0;padding:1px 7px;border-radius:10px;font-size:.92em}
.good{background:var(--good-bg);color:var(--good-fg)}.bad{background:var(--bad-bg);color:var(--bad-fg)}.info{background:var(--info-bg);color:var(--info-fg)}
.neutral{background:var(--neutral-bg);color:var(--neutral-fg)}.warn{background:var(--warn-bg);color:var(--warn-fg)}
.err{background:var(--bad-bg);color:var(--bad-fg);border:1px solid var(--s-NotReady);border-radius:6px;padding:.5em;margin:.5em 0;white-space:pre-wrap}
.muted{color:var(--muted)} svg text{font:11px system-ui,sans-serif;fill:var(--fg)}
#banner{display:none;position:sticky;top:0;z-index:2;background:var(--bad-bg);color:var(--bad-fg);border-bottom:2px solid var(--s-NotReady);padding:.6em 1.5em;font-weight:600}
body.stale #banner{display:block} body.stale .card{filter:grayscale(1);opacity:.55}
.legend{display:grid;grid-template-columns:repeat(auto-fill,minmax(136px,1fr));gap:2px 8px;max-height:210px;overflow:auto;min-width:260px;max-width:520px;font-size:.92em}
.legend span{white-space:nowrap;cursor:default}.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.views label{margin-right:1em} .tip{min-height:1.4em}
form{display:flex;gap:.4em;align-items:center;flex-wrap:wrap} input[type=text]{padding:3px 6px;min-width:16em;background:var(--card);color:var(--fg);border:1px solid var(--line);border-radius:4px}
button{padding:3px 10px;border-radius:4px;border:1px solid var(--line);background:var(--neutral-bg);color:var(--fg);cursor:pointer}
.links a{margin-right:1em}
</style></head><body>
<div id="banner" role="alert"></div>
<header><h1>ringlb operator</h1>
<div id="meta" class="muted">loading…</div>
<nav class="links" aria-label="endpoints" id="links"><a href="/metrics">/metrics</a><a href="/v1/status">/v1/status</a><a href="/v1/rings">/v1/rings</a></nav>
</header>
<main><div id="errors"></div><div id="rings"></div></main>
<script>
"use strict";
const POLL_MS=1000,FETCH_TIMEOUT_MS=2000;
const S={data:null,lastOkPerf:0,failure:null,failingSincePerf:0,cards:new Map()};
function esc(s){return String(s??"").replace(/[&<>"']/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));}
function $(root,sel){return root.querySelector(sel);}
function css(name){return getComputedStyle(document.documentElement).getPropertyValue(name).trim();}
function stateColour(state){return css("--s-"+state)||"#8c959f";}
function unhealthy(m){return m.state!=="Ready";}
function ordinal(id){const n=parseInt(String(id).split("-").pop(),10);return isNaN(n)?0:n;}
function memberColour(i,n){return `hsl(${Math.round((i*360/Math.max(n,1)+ (i%2)*180/Math.max(n,1))%360)} 65% 48%)`;}
function fmtTime(ms){const d=new Date(ms);return d.toLocaleTimeString([], {hour12:false})+"."+String(d.getMilliseconds()).padStart(3,"0");}
function fmtDur(ms){if(ms==null)return "—";if(ms<1000)return `${Math.round(ms)} ms`;const s=ms/1000;if(s<90)return `${s.toFixed(1)} s`;const m=s/60;if(m<90)return `${m.toFixed(1)} min`;return `${(m/60).toFixed(1)} h`;}
function fmtRate(v){return v==null?"—":v>=100?v.toFixed(0):v>=10?v.toFixed(1):v.toFixed(2);}
function fmtPct(v){return v==null?"—":(100*v).toFixed(1)+"%";}
function fmtSec(v){return v==null?"—":v<1?(1000*v).toFixed(1)+" ms":v.toFixed(2)+" s";}
function ringPath(r){return "/v1/rings/"+encodeURIComponent(r.key.split("/")[0])+"/"+encodeURIComponent(r.name);}
function condClass(c){
  const t=c.status==="True";
  switch(c.type){case "Ready":return t?"good":"bad";case "Degraded":return t?"bad":"good";case "Progressing":return t?"info":"neutral";default:return t?"neutral":"neutral";}
}
function arc(cx,cy,r0,r1,a0,a1){
  const p=(r,a)=>[cx+r*Math.sin(a),cy-r*Math.cos(a)];
  if(a1-a0>=2*Math.PI-1e-6)a1=a0+2*Math.PI-1e-4;
  const large=(a1-a0)>Math.PI?1:0,[x0,y0]=p(r1,a0),[x1,y1]=p(r1,a1),[x2,y2]=p(r0,a1),[x3,y3]=p(r0,a0);
  return `M${x0.toFixed(2)},${y0.toFixed(2)}A${r1},${r1} 0 ${large} 1 ${x1.toFixed(2)},${y1.toFixed(2)}L${x2.toFixed(2)},${y2.toFixed(2)}A${r0},${r0} 0 ${large} 0 ${x3.toFixed(2)},${y3.toFixed(2)}Z`;
}
// Labels go outside the ring, only where the arc is long enough for the text;
// unhealthy members claim their place first, and no two labels overlap.
function placeLabels(items,radius){
  const placed=[],out=[];
  const order=[...items].sort((a,b)=>(unhealthy(b.m)-unhealthy(a.m))||(b.span-a.span));
  for(const it of order){
    const w=7*it.text.length+6,need=w/radius;
    if(it.span<need*0.6&&!(unhealthy(it.m)&&it.span>0.05))continue;
    const mid=it.a0+it.span/2,half=Math.max(need,14/radius)/2;
    if(placed.some(p=>Math.abs(((mid-p.mid+3*Math.PI)%(2*Math.PI))-Math.PI)<half+p.half))continue;
    placed.push({mid,half});out.push({...it,mid});
  }
  return out;
}
function donutSvg(r){
  const size=280,c=size/2,members=r.members;let a=0,body="";
  if(!members.length)body+=`<circle cx="${c}" cy="${c}" r="75" fill="none" stroke="${css("--line")}" stroke-width="30"/>`;
  const items=[];
  for(const m of members){
    const span=(m.share||0)*2*Math.PI;if(span<=0)continue;
    body+=`<path data-member="${esc(m.id)}" d="${arc(c,c,62,92,a,a+span)}" fill="${stateColour(m.state)}" stroke="${css("--card")}" stroke-width="1"><title>${esc(m.id)} · ${esc(m.state)} · ${(100*m.share).toFixed(1)}% of the keyspace</title></path>`;
    items.push({m,a0:a,span,text:String(ordinal(m.id))});a+=span;
  }
  for(const l of placeLabels(items,106))body+=`<text x="${(c+106*Math.sin(l.mid)).toFixed(1)}" y="${(c-106*Math.cos(l.mid)+4).toFixed(1)}" text-anchor="middle">${esc(l.text)}</text>`;
  body+=`<text x="${c}" y="${c-4}" text-anchor="middle" style="font-size:15px;font-weight:600">v${r.version}</text><text x="${c}" y="${c+14}" text-anchor="middle">${r.readyReplicas}/${r.desiredReplicas} ready</text>`;
  return `<svg class="donut" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}" role="img" aria-label="keyspace share of ring ${esc(r.name)} by member, coloured by state">${body}</svg>`;
}
function stateLegend(r){
  const counts={};for(const m of r.members)counts[m.state]=(counts[m.state]||0)+1;
  const order=["NotReady","Stopped","Draining","Starting","Ready"];
  return `<div class="legend" tabindex="0" role="group" aria-label="states">${order.filter(s=>counts[s]).map(s=>`<span><i class="sw" style="background:${stateColour(s)}"></i>${s} ${counts[s]}</span>`).join("")}</div>`+
    `<div class="muted" style="max-width:260px;margin-top:.3em">Unhealthy: ${r.members.filter(unhealthy).map(m=>esc(m.id)).join(", ")||"none"}</div>`;
}
function pointsSvg(r,pts,card){
  const size=300,c=size/2,R=110;const n=pts.members.length;
  const order=pts.members.map((m,i)=>({m,i})).sort((x,y)=>(unhealthy(x.m)-unhealthy(y.m))||ordinal(x.m.id)-ordinal(y.m.id));
  let body=`<circle cx="${c}" cy="${c}" r="${R}" fill="none" stroke="${css("--line")}" stroke-width="1"/>`;
  const all=[];
  if(pts.algorithm==="ring"){
    for(const {m,i} of order){ // unhealthy last: drawn on top, longer ticks
      const long=unhealthy(m)?16:9;let d="";
      for(const p of m.points){const a=p/65536*2*Math.PI,s=Math.sin(a),k=Math.cos(a);d+=`M${(c+(R-long)*s).toFixed(1)},${(c-(R-long)*k).toFixed(1)}L${(c+(R+long)*s).toFixed(1)},${(c-(R+long)*k).toFixed(1)}`;all.push([p,i]);}
      body+=`<path data-member="${esc(m.id)}" d="${d}" stroke="${unhealthy(m)?stateColour(m.state):memberColour(i,n)}" stroke-width="${unhealthy(m)?2:1.2}" fill="none"/>`;
    }
    all.sort((x,y)=>x[0]-y[0]);
  }else{
    const k=pts.owners.length;
    pts.owners.forEach((o,j)=>{if(o==null)return;const m=pts.members[o];body+=`<path data-member="${esc(m.id)}" d="${arc(c,c,R-10,R+10,j/k*2*Math.PI,(j+1)/k*2*Math.PI)}" fill="${unhealthy(m)?stateColour(m.state):memberColour(o,n)}"/>`;});
  }
  body+=`<text x="${c}" y="${c-4}" text-anchor="middle" style="font-size:14px;font-weight:600">${esc(pts.algorithm)} v${pts.version}</text><text x="${c}" y="${c+13}" text-anchor="middle">${pts.algorithm==="ring"?all.length+" virtual nodes":pts.owners.length+" table samples"}</text>`;
  card.owners=all;card.pts=pts;
  const legend=order.slice().sort((x,y)=>(unhealthy(y.m)-unhealthy(x.m))||ordinal(x.m.id)-ordinal(y.m.id)).map(({m,i})=>
    `<span data-member="${esc(m.id)}" title="${esc(m.id)} · ${esc(m.state)} · ${(100*m.share).toFixed(1)}%"><i class="sw" style="background:${unhealthy(m)?stateColour(m.state):memberColour(i,n)}"></i>${esc(m.id)}${unhealthy(m)?` <b class="st st-${esc(m.state)}">${esc(m.state)}</b>`:""}</span>`).join("");
  return `<svg class="pointsview" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}" role="img" aria-label="virtual nodes of ring ${esc(r.name)} on the hash circle">${body}</svg>`+
    `<div><div class="legend" tabindex="0" role="group" aria-label="members, unhealthy first">${legend}</div></div>`;
}
function ownerAt(card,angle){
  if(card.pts.algorithm!=="ring"){const k=card.pts.owners.length;const o=card.pts.owners[Math.floor(angle/(2*Math.PI)*k)%k];return o==null?null:card.pts.members[o];}
  const p=angle/(2*Math.PI)*65536,list=card.owners;if(!list.length)return null;
  let lo=0,hi=list.length;while(lo<hi){const mid=(lo+hi)>>1;if(list[mid][0]<p)lo=mid+1;else hi=mid;}
  return card.pts.members[list[lo===list.length?0:lo][1]];
}
function highlight(card,id){for(const el of card.view.querySelectorAll("svg [data-member]"))el.style.opacity=(id==null||el.dataset.member===id)?"":"0.15";}
function describe(m,extra){return m?`${m.id} · ${m.state} · ${(100*(m.share||0)).toFixed(2)}% of the keyspace${extra||""}`:"";}
async function drawView(card,r){
  const mode=$(card.el,"input[name^=view]:checked").value;
  const sig=mode+"|"+r.version+"|"+r.members.map(m=>m.id+m.state).join(",");
  if(sig===card.viewSig)return;card.viewSig=sig;
  if(mode==="donut"){card.view.innerHTML=donutSvg(r)+`<div>${stateLegend(r)}</div>`;return;}
  try{
    const resp=await fetch(ringPath(r)+"/points",{cache:"no-store"});
    if(!resp.ok)throw new Error("HTTP "+resp.status);
    card.view.innerHTML=pointsSvg(r,await resp.json(),card);
  }catch(e){card.viewSig="";card.view.innerHTML=`<div class="err">ring view: ${esc(e.message)}</div>`;}
}
function newCard(r){
  const el=document.createElement("section");el.className="card";el.setAttribute("aria-label","ring "+r.key);
  const v="view-"+r.key.replace(/[^A-Za-z0-9]/g,"_");
  el.innerHTML=`<h2></h2><div class="settings"></div><div class="conds"></div><div class="rerr"></div>
  <div class="views" role="radiogroup" aria-label="ring drawing"><label><input type="radio" name="${v}" value="donut" checked> share donut</label><label><input type="radio" name="${v}" value="points"> ring (virtual nodes)</label></div>
  <div class="top"><div class="top view"></div></div><div class="tip muted" aria-live="polite"></div>
  <h3>Key lookup</h3><form class="lookup"><label for="k-${v}">which member owns key</label><input id="k-${v}" type="text" name="key" placeholder="e.g. 2020-01-01" autocomplete="off"><button type="submit">look up</button></form><div class="answer" aria-live="polite"></div>
  <h3>Members</h3><div class="scroll members" tabindex="0" role="region" aria-label="members"></div><div class="trafficnote muted"></div>
  <h3>Events</h3><div class="scroll events" tabindex="0" role="region" aria-label="events"></div>
  <h3>Recent ring versions</h3><div class="scroll history" tabindex="0" role="region" aria-label="recent ring versions"></div><div class="rlinks links"></div>`;
  const card={el,view:$(el,".view"),viewSig:"",owners:[],pts:null,key:r.key,ring:r};
  for(const input of el.querySelectorAll(".views input"))input.addEventListener("change",()=>{card.viewSig="";drawView(card,card.ring);});
  card.view.addEventListener("mousemove",e=>{
    const tip=$(el,".tip"),t=e.target;
    if(t.closest&&t.closest(".legend")){const s=t.closest("[data-member]");if(s){highlight(card,s.dataset.member);tip.textContent=describe(card.ring.members.find(m=>m.id===s.dataset.member));}return;}
    const svg=t.closest&&t.closest("svg");if(!svg){return;}
    const b=svg.getBoundingClientRect(),x=e.clientX-b.left-b.width/2,y=e.clientY-b.top-b.height/2;
    const angle=(Math.atan2(x,-y)+2*Math.PI)%(2*Math.PI);
    let m=null,extra="";
    if(svg.classList.contains("pointsview")){m=ownerAt(card,angle);extra=` · owns this arc (${(angle/(2*Math.PI)*360).toFixed(1)}°)`;}
    else if(t.dataset&&t.dataset.member)m=card.ring.members.find(x=>x.id===t.dataset.member);
    if(m){const live=card.ring.members.find(x=>x.id===m.id)||m;tip.textContent=describe(live,extra);highlight(card,m.id);}
  });
  card.view.addEventListener("mouseleave",()=>{highlight(card,null);$(el,".tip").textContent="";});
  $(el,".lookup").addEventListener("submit",async e=>{
    e.preventDefault();const key=$(el,"input[name=key]").value,ans=$(el,".answer");
    try{
      const resp=await fetch(ringPath(card.ring)+"/explain?key="+encodeURIComponent(key),{cache:"no-store"});
      const x=await resp.json();if(!resp.ok)throw new Error(x.error||("HTTP "+resp.status));
      const walk=x.walk.map(w=>`<li><span class="member">${esc(w.id)}</span> <span class="st st-${esc(w.state)}">${esc(w.state)}</span></li>`).join("");
      ans.innerHTML=`<div>key <code>${esc(x.key)}</code> (hash ${esc(x.hash)}, ring v${x.version}): owner <b class="owner">${esc(x.owner??"none")}</b>, picked <b class="pick">${esc(x.pick??"none")}</b></div><details><summary>successors in ring order</summary><ol class="walk">${walk}</ol></details>`;
    }catch(err){ans.innerHTML=`<div class="err">lookup failed: ${esc(err.message)}</div>`;}
  });
  return card;
}
function membersTable(r,traffic,now){
  const t=(traffic&&traffic.members)||{};
  const failedAt={};for(const e of r.events||[])if(e.kind==="failed")failedAt[e.member]=e.unixMillis;
  // Unhealthy (and flapping) members first, so the ones that need a look are at the top at any size.
  const order=r.members.slice().sort((a,b)=>(unhealthy(b)-unhealthy(a))||((b.flapping?1:0)-(a.flapping?1:0))||ordinal(a.id)-ordinal(b.id));
  const rows=order.map(m=>{
    const x=t[m.id]||{};
    const outage=m.outageSinceUnixMillis!=null?`<span class="chip bad">down ${fmtDur(now-m.outageSinceUnixMillis)}</span>`:"";
    const flap=m.flapping?`<span class="chip warn" title="${m.recentFailures} failures in the last 10 minutes">flapping</span>`:"";
    return `<tr data-member="${esc(m.id)}"><th scope="row">${esc(m.id)}</th><td class="st st-${esc(m.state)}">${esc(m.state)} ${flap}${outage}</td><td>${esc(m.address)}</td><td class="num">${m.weight}${m.rampPermille!=null&&m.rampPermille<1000?` <span class="muted">(ramp ${(m.rampPermille/10).toFixed(1)}%)</span>`:""}</td>
<td class="num">${fmtPct(m.share)}</td><td class="num observed">${fmtPct(x.observedShare)}</td><td class="num rps">${fmtRate(x.requestsPerSecond)}</td><td class="num">${fmtPct(x.errorRatio)}</td>
<td class="num">${fmtSec(x.p50Seconds)}</td><td class="num">${fmtSec(x.p99Seconds)}</td><td class="num">${x.inFlight==null?"—":Math.round(x.inFlight)}</td><td class="num">${fmtRate(x.retriesPerSecond)}</td><td class="num">${fmtRate(x.spillsPerSecond)}</td>
<td class="num">${m.restarts}</td><td>${esc(m.runtimeId)}</td><td class="num">${fmtDur(m.uptimeMillis)}</td><td class="muted">${esc(m.lastFailure)}${m.lastFailure&&failedAt[m.id]?` (${fmtTime(failedAt[m.id])}, ${fmtDur(now-failedAt[m.id])} ago)`:""}</td></tr>`;}).join("");
  return `<table><thead><tr><th scope="col">member</th><th scope="col">state</th><th scope="col">address</th><th scope="col" class="num">weight</th><th scope="col" class="num">keyspace</th><th scope="col" class="num">observed</th>
<th scope="col" class="num">req/s</th><th scope="col" class="num">errors</th><th scope="col" class="num">p50</th><th scope="col" class="num">p99</th><th scope="col" class="num">in flight</th><th scope="col" class="num">retries/s</th><th scope="col" class="num">spills/s</th>
<th scope="col" class="num">restarts</th><th scope="col">runtime id</th><th scope="col" class="num">uptime</th><th scope="col">last failure</th></tr></thead><tbody>${rows}</tbody></table>`;
}
// A scale step adds or removes many slots at once: one row per step, not per slot.
function groupScaleSteps(events){
  const out=[];
  for(const e of events){
    const last=out[out.length-1];
    if(last&&(e.kind==="added"||e.kind==="removed")&&last.kind===e.kind&&Math.abs(last.unixMillis-e.unixMillis)<2000){last.members.push(e.member);continue;}
    out.push({...e,members:[e.member]});
  }
  for(const g of out)if(g.members.length>1){
    g.members.sort((a,b)=>ordinal(a)-ordinal(b));
    g.member=`${g.members.length} slots: ${g.members.length>4?g.members[0]+" … "+g.members[g.members.length-1]:g.members.join(", ")}`;
  }
  return out;
}
function eventsTable(r){
  const ev=groupScaleSteps((r.events||[]).slice().reverse());
  if(!ev.length)return `<div class="muted">no events yet</div>`;
  const cls={failed:"bad",recovered:"good",replaced:"info",added:"neutral",removed:"neutral","rolled out":"info"};
  const flapping=new Set(r.members.filter(m=>m.flapping).map(m=>m.id));
  return `<table><thead><tr><th scope="col">time</th><th scope="col">member</th><th scope="col">event</th><th scope="col" class="num">outage</th><th scope="col">detail</th></tr></thead><tbody>${ev.map(e=>
    `<tr class="event" data-kind="${esc(e.kind)}" data-member="${esc(e.member)}"><td>${fmtTime(e.unixMillis)}</td><td>${esc(e.member)}${flapping.has(e.member)?' <span class="chip warn">flapping</span>':""}</td><td><span class="chip ${cls[e.kind]||"neutral"}">${esc(e.kind)}</span></td><td class="num outage">${e.outageMillis==null?(e.kind==="failed"?"ongoing":""):fmtDur(e.outageMillis)}</td><td class="muted">${esc(e.detail)}</td></tr>`).join("")}</tbody></table>`;
}
function historyTable(r){
  const hist=(r.history||[]).slice(-8).reverse();
  return `<table><thead><tr><th scope="col">version</th><th scope="col">time</th><th scope="col" class="num">keyspace moved</th><th scope="col">change</th></tr></thead><tbody>${hist.map(h=>`<tr><td>v${h.version}</td><td>${fmtTime(h.unixMillis)}</td><td class="num">${fmtPct(h.movedKeyspace)}</td><td class="muted">${esc(h.summary)}</td></tr>`).join("")}</tbody></table>`;
}
function promGraph(base,expr){return base.replace(/\/$/,"")+"/graph?g0.expr="+encodeURIComponent(expr)+"&g0.tab=0&g0.range_input=15m";}
function renderRing(card,r,s){
  card.ring=r;const el=card.el;
  $(el,"h2").textContent=`${r.name} (namespace ${r.key.split("/")[0]})`;
  const st=r.settings;
  $(el,".settings").innerHTML=`generation ${r.generation} · ring version ${r.version}`+(st?` · algorithm <b>${esc(st.algorithm)}</b> · virtualNodes ${st.virtualNodes} · loadFactor ${st.loadFactor?st.loadFactor:"off"} · key ${esc(st.key.source)}${st.key.name?":"+esc(st.key.name):""}`:"")+` · weights ${esc([...new Set(r.members.map(m=>m.weight))].join("/"))}`;
  $(el,".conds").innerHTML=(r.conditions||[]).map(c=>`<span class="chip cond ${condClass(c)}" data-type="${esc(c.type)}" title="${esc(c.message)}">${esc(c.type)}=${esc(c.status)} (${esc(c.reason)})</span>`).join("");
  $(el,".rerr").innerHTML=r.error?`<div class="err"><b>Invalid resource</b> (last good state kept): ${esc(r.error)}</div>`:"";
  $(el,".members").innerHTML=membersTable(r,s.traffic,s.serverUnixMillis);
  const tr=s.traffic;
  $(el,".trafficnote").innerHTML=!tr?"Per-member traffic: start the operator with --prometheus-url (a Prometheus that scrapes the proxies).":
    `Traffic from Prometheus (${esc(tr.url)}), rate over ${esc(tr.window)}, all proxies summed`+(tr.updatedUnixMillis?`, queried ${fmtDur(s.serverUnixMillis-tr.updatedUnixMillis)} ago`:"")+(tr.error?` — <span class="chip bad">${esc(tr.error)}</span>`:"");
  $(el,".events").innerHTML=eventsTable(r);
  $(el,".history").innerHTML=historyTable(r);
  const p=ringPath(r);let links=`<a href="${p}">ring API</a><a href="${p}?watch=0">watch</a><a href="${p}/points">points</a><a href="${p}/explain?key=example">explain</a>`;
  const pu=s.links&&s.links.prometheus;
  if(pu)links+=`<a class="prom" href="${esc(promGraph(pu,'sum by (member) (rate(ringlb_proxy_requests_total{member!="none"}[1m]))'))}">Prometheus: requests/s by member</a>`;
  $(el,".rlinks").innerHTML=links;
  drawView(card,r);
}
function render(s){
  S.data=s;
  const ringErrors=new Set(s.rings.map(r=>r.error).filter(Boolean));
  const errs=Object.entries(s.resourceErrors||{}).filter(([,e])=>!ringErrors.has(e));
  document.getElementById("errors").innerHTML=errs.map(([k,e])=>`<div class="err"><b>Invalid resource ${esc(k)}</b> (last good state kept): ${esc(e)}</div>`).join("");
  const pa=(s.links&&s.links.proxyAdmin)||[];
  document.getElementById("links").innerHTML=`<a href="/metrics">/metrics</a><a href="/v1/status">/v1/status</a><a href="/v1/rings">/v1/rings</a>`+
    pa.map((u,i)=>`<a class="proxy" href="${esc(u.replace(/\/$/,""))}/ring">proxy ${i+1} admin (${esc(u)})</a>`).join("")+
    (s.links&&s.links.prometheus?`<a class="prom" href="${esc(promGraph(s.links.prometheus,"sum by (member) (rate(ringlb_proxy_requests_total[1m]))"))}">Prometheus graph</a>`:"");
  const root=document.getElementById("rings"),seen=new Set();
  for(const r of s.rings){
    seen.add(r.key);let card=S.cards.get(r.key);
    if(!card){card=newCard(r);S.cards.set(r.key,card);root.appendChild(card.el);}
    renderRing(card,r,s);
  }
  for(const [k,card] of S.cards)if(!seen.has(k)){card.el.remove();S.cards.delete(k);}
}
function updateMeta(){
  const s=S.data,now=performance.now();
  if(!s)return;
  const age=(now-S.lastOkPerf)/1000;
  document.getElementById("meta").textContent=`runtime ${s.runtime} · ${s.rings.length} ring(s) · data as of ${fmtTime(s.serverUnixMillis)} on the operator's clock (${age.toFixed(1)} s ago)`;
  if(S.failure){
    document.body.classList.add("stale");
    document.getElementById("banner").textContent=`Stale: ${S.failure}. Showing data from ${fmtTime(s.serverUnixMillis)} (operator's clock), ${age.toFixed(0)} s old.`;
  }else document.body.classList.remove("stale");
}
async function tick(){
  const ctl=new AbortController(),timer=setTimeout(()=>ctl.abort(),FETCH_TIMEOUT_MS);
  try{
    const r=await fetch("/v1/status",{cache:"no-store",signal:ctl.signal});
    if(!r.ok){let why="";try{why=(await r.json()).error||"";}catch(e){}throw new Error(`the operator answered HTTP ${r.status}${why?": "+why:""}`);}
    const s=await r.json();S.lastOkPerf=performance.now();S.failure=null;render(s);
  }catch(e){
    S.failure=e.name==="AbortError"?`the operator did not answer within ${FETCH_TIMEOUT_MS/1000} s`:(e.message.startsWith("the operator")?e.message:"the operator is unreachable ("+e.message+")");
    if(!S.data){document.body.classList.add("stale");document.getElementById("banner").textContent="Stale: "+S.failure;}
  }finally{clearTimeout(timer);}
  updateMeta();setTimeout(tick,POLL_MS);
}
setInterval(updateMeta,500);
tick();
</script></body></html>
)HTML";
  return kPage;
}

}  // namespace ringlb::op
