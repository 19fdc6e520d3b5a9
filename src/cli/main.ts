// `chorus` command line: transcribe files, fetch models, serve the gateway. Each command's
// module loads only when it runs: the gateway's (WebRTC, NATS, metrics) took 200 ms of every
// `chorus transcribe`.

const USAGE = `usage:
  chorus transcribe FILE... [--model NAME|PATH] [--json] [--language L] [--threads N]
                           [--precision fp32|bf16|int8|int8-encoder]
                           [--beam-size N] [--task transcribe|translate] [--prompt TEXT]
                           [--without-timestamps] [--multichannel]
  chorus model [NAME...]          fetch registered models into the cache (default tiny.en)
  chorus model --list             list registered models and what is cached
  chorus model --verify [NAME...] check cached models' sizes and checksums
  chorus serve [options]          run the gateway (chorus serve --help lists the options)
  chorus cluster [options]        N gateways behind HAProxy on this machine (chorus cluster --help)`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'transcribe':
      return (await import('./transcribe-command.js')).runTranscribe(rest);
    case 'model':
      return (await import('./model-command.js')).runModelCommand(rest);
    case 'serve':
      return (await import('./serve-command.js')).runServe(rest);
    case 'cluster':
      return (await import('./cluster-command.js')).runCluster(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE + '\n');
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`chorus: unknown command "${command}"\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`chorus: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
