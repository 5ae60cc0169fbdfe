// The official E2B JS SDK's side of bench/compare: one run of one case, as
// client/main.go runs it. Usage: node e2b.cjs <case> <size>. Prints one
// JSON line {"lost": N}.
const { Sandbox } = require('e2b');

async function main() {
  const [c, sizeArg] = process.argv.slice(2);
  const size = Number(sizeArg);
  // Attach by name, as ours does: list by metadata, connect to the oldest.
  const pager = Sandbox.list({ query: { metadata: { 'sandagent.name': process.env.BENCH_NAME } } });
  const found = await pager.nextItems();
  found.sort((a, b) => a.startedAt - b.startedAt || (a.sandboxId < b.sandboxId ? -1 : 1));
  const sbx = await Sandbox.connect(found[0].sandboxId);
  let lost = 0;
  switch (c) {
    case 'e2b-cold': {
      const r = await sbx.commands.run('echo hi');
      if (r.stdout !== 'hi\n') lost++;
      break;
    }
    case 'e2b-stdout': {
      let n = 0;
      const raw = Math.floor(size / 4) * 3;
      await sbx.commands.run(`head -c ${raw} /dev/urandom | base64 -w 0`, { timeoutMs: 0, onStdout: (d) => { n += d.length; } });
      if (n !== size) throw new Error(`stdout: ${n} bytes, want ${size}`);
      break;
    }
    case 'e2b-files': {
      const block = Buffer.alloc(256);
      for (let i = 0; i < 256; i++) block[i] = (i * 7 + 1) & 255;
      await sbx.files.write('bench.bin', Buffer.alloc(size, block));
      const back = await sbx.files.read('bench.bin', { format: 'bytes' });
      if (back.length !== size) throw new Error(`download: ${back.length} bytes, want ${size}`);
      break;
    }
    case 'e2b-concurrent': {
      const runs = [];
      for (let i = 0; i < size; i++) {
        runs.push(sbx.commands.run(`echo ${i}`).then((r) => { if (r.stdout !== `${i}\n`) lost++; }));
      }
      await Promise.all(runs);
      break;
    }
    default:
      throw new Error(`unknown case ${c}`);
  }
  console.log(JSON.stringify({ lost }));
}

main().catch((e) => { console.error(e); process.exit(1); });
