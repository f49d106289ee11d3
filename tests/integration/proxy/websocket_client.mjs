// A real WebSocket client (Node's built-in one, from undici): connects to
// argv[2], sends argv[3] text messages, closes once every echo is back, and
// prints what happened as one JSON line.
const [url, count] = [process.argv[2], Number(process.argv[3])];
const messages = [];
const finish = (result, code) => {
  console.log(JSON.stringify(result));
  process.exit(code);
};
const ws = new WebSocket(url);
ws.onopen = () => {
  for (let i = 0; i < count; i++) ws.send(`message ${i} ` + "x".repeat(i * 100));
};
ws.onmessage = (event) => {
  messages.push(event.data);
  if (messages.length === count) ws.close(1000, "done");
};
ws.onclose = (event) => finish({messages, code: event.code, wasClean: event.wasClean}, 0);
ws.onerror = (event) => finish({error: String(event.message || event.type), messages}, 1);
setTimeout(() => finish({error: "timed out", messages}, 2), 10000);
