// The official Daytona TypeScript SDK's side of bench/compare: one run of one
// case, as client/main.go runs it. Usage: node daytona.cjs <case> <size>.
// Prints one JSON line {"lost": N, "inner_ms": F}.
const { Daytona } = require('@daytonaio/sdk');

async function main() {
  const [c, sizeArg] = process.argv.slice(2);
  const size = Number(sizeArg);
  const daytona = new Daytona({ apiKey: process.env.DAYTONA_API_KEY, apiUrl: process.env.DAYTONA_API_URL, target: 'us' });
  const sb = await daytona.get(process.env.BENCH_NAME);
  let lost = 0;
  let inner;
  switch (c) {
    case 'daytona-cold': {
      const r = await sb.process.executeCommand('echo hi');
      if (r.result !== 'hi\n') lost++;
      break;
    }
    case 'daytona-warm': {
      const begin = process.hrtime.bigint();
      for (let i = 0; i < size; i++) {
        const r = await sb.process.executeCommand(`echo ${i}`);
        if (r.result !== `${i}\n`) lost++;
      }
      inner = Number(process.hrtime.bigint() - begin) / 1e6 / size;
      break;
    }
    default:
      throw new Error(`unknown case ${c}`);
  }
  console.log(JSON.stringify({ lost, inner_ms: inner }));
}

main().catch((e) => { console.error(e); process.exit(1); });
