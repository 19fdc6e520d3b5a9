/**
 * The gateway's operational log: one JSON object per line, so a log shipper can index the
 * fields (request id, error code) without parsing prose. Tests pass their own function to
 * collect events instead of scraping stderr.
 */
export type GatewayLog = (event: string, fields?: Record<string, unknown>) => void;

export function jsonLinesLog(out: NodeJS.WritableStream): GatewayLog {
  return (event, fields = {}) => {
    out.write(JSON.stringify({ time: new Date().toISOString(), event, ...fields }) + '\n');
  };
}
