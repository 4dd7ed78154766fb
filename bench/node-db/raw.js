'use strict';
// The TechEmpower database tests on Node's raw `http` module and `pg` (the pure-JS
// client, a Pool of PG_POOL connections, named = prepared statements): the Node.js
// peer of bench/run.sh's database runs, the same shape as the plaintext/json
// node-raw peer of ../shared/bench/peers. One process, 127.0.0.1:$PORT only.
//   GET /plaintext, /json, /db, /queries?queries=N, /fortunes, /updates?queries=N,
//   /cached-queries?count=N     (DATABASE_URL: postgres://user:pass@host:port/db)
// Rules as in bench/galley_bench.c: one query per World row (here issued
// concurrently over the pool), one batched UPDATE per /updates request, the
// fortunes sorted in the application and HTML-escaped.
const http = require('node:http');
const { Pool } = require('pg');

const port = Number(process.env.PORT || 8080);
const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.PG_POOL || 4) });
const HELLO = 'Hello, World!';
const cache = new Int32Array(10001);

const qWorld = { name: 'world', text: 'SELECT id, randomnumber FROM world WHERE id = $1', values: [0] };
const rid = () => 1 + Math.floor(Math.random() * 10000);
const count = (v) => {
  const n = /^[0-9]+$/.test(v || '') ? parseInt(v, 10) : 1;
  return n < 1 ? 1 : n > 500 ? 500 : n;
};

async function world(id) {
  const r = await pool.query({ name: qWorld.name, text: qWorld.text, values: [id] });
  const row = r.rows[0];
  return { id: row.id, randomNumber: row.randomnumber };
}

const updateSql = new Map();
function updateText(n) {
  let t = updateSql.get(n);
  if (!t) {
    const v = [];
    for (let i = 0; i < n; i++) v.push(`(CAST($${2 * i + 1} AS integer), CAST($${2 * i + 2} AS integer))`);
    t = `UPDATE world SET randomnumber = v.column2 FROM (VALUES ${v.join(', ')}) AS v WHERE world.id = v.column1`;
    updateSql.set(n, t);
  }
  return t;
}

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (s) => s.replace(/[&<>"']/g, (c) => ESC[c]);

function send(res, ctype, body) {
  res.writeHead(200, { 'Content-Type': ctype, 'Content-Length': String(Buffer.byteLength(body)), 'Server': 'Node' });
  res.end(body);
}

async function handle(req, res) {
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : req.url.slice(q + 1));
  switch (path) {
    case '/plaintext':
      return send(res, 'text/plain', HELLO);
    case '/json':
      return send(res, 'application/json', JSON.stringify({ message: HELLO }));
    case '/db':
      return send(res, 'application/json', JSON.stringify(await world(rid())));
    case '/queries': {
      const n = count(params.get('queries'));
      const rows = await Promise.all(Array.from({ length: n }, () => world(rid())));
      return send(res, 'application/json', JSON.stringify(rows));
    }
    case '/cached-queries': {
      const n = count(params.get('count'));
      const rows = [];
      for (let i = 0; i < n; i++) { const id = rid(); rows.push({ id, randomNumber: cache[id] }); }
      return send(res, 'application/json', JSON.stringify(rows));
    }
    case '/updates': {
      const n = count(params.get('queries'));
      const rows = await Promise.all(Array.from({ length: n }, () => world(rid())));
      const byId = new Map();
      for (const w of rows) { w.randomNumber = rid(); byId.set(w.id, w); }
      for (const w of rows) w.randomNumber = byId.get(w.id).randomNumber;
      const ids = [...byId.keys()].sort((a, b) => a - b);
      const values = [];
      for (const id of ids) values.push(id, byId.get(id).randomNumber);
      await pool.query({ name: `upd${ids.length}`, text: updateText(ids.length), values });
      return send(res, 'application/json', JSON.stringify(rows));
    }
    case '/fortunes': {
      const r = await pool.query({ name: 'fortunes', text: 'SELECT id, message FROM fortune' });
      const f = r.rows;
      f.push({ id: 0, message: 'Additional fortune added at request time.' });
      f.sort((a, b) => (a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
      let html = '<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>';
      for (const x of f) html += `<tr><td>${x.id}</td><td>${esc(x.message)}</td></tr>`;
      html += '</table></body></html>';
      return send(res, 'text/html; charset=utf-8', html);
    }
    default:
      res.writeHead(404, { 'Content-Length': '0' });
      res.end();
  }
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => {
    console.error(e.message);
    if (!res.headersSent) { res.writeHead(500, { 'Content-Length': '0' }); res.end(); }
  });
});
server.keepAliveTimeout = 65000;

pool.query('SELECT id, randomnumber FROM world').then((r) => {
  for (const row of r.rows) cache[row.id] = row.randomnumber;
  server.listen(port, '127.0.0.1', () => console.log(`node-db listening on 127.0.0.1:${port}`));
}, (e) => { console.error(`node-db: ${e.message}`); process.exit(1); });
