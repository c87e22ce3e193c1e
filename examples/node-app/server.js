// A tiny Berth example: node's http server on $PORT using one dependency from npm (ms).
const http = require("http");
const ms = require("ms");

const message = process.env.MESSAGE || "Hello from Berth (node)";
const started = Date.now();

const server = http.createServer((req, res) => {
  const body = `${message}\nup ${ms(Date.now() - started)}\n`;
  res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
  console.log(`handled ${req.method} ${req.url}`);
});

const port = parseInt(process.env.PORT || "5000", 10);
server.listen(port, "0.0.0.0", () => console.log(`listening on port ${port}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
