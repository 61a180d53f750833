// Readiness probes over HTTP(S). Engines on loopback serve self-signed certificates, which a probe
// does not need to verify: it only asks "are you up?".
import http from 'node:http';
import https from 'node:https';

export function httpGet(url: string, bearer?: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.get(
      u,
      { timeout: timeoutMs, rejectUnauthorized: false, headers: bearer ? { authorization: `Bearer ${bearer}` } : {} },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}
