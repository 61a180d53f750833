import { describe, expect, it } from 'vitest';
import { parsePowerConfig } from './config.ts';
import { subst } from './power.ts';

const good = { cluster: 'hpc', approval: 'hub', hubUrl: 'http://hub:8080', token: 'mrc_x', start: ['/usr/sbin/slurmd', '-N', '{node}'], stop: { pidFile: '/run/slurmd-{node}.pid' } };

describe('parsePowerConfig', () => {
  it('accepts a complete config and lets MERIDIAN_URL / MERIDIAN_TOKEN override', () => {
    expect(parsePowerConfig(good, 'p.json')).toMatchObject({ cluster: 'hpc', approval: 'hub', hubUrl: 'http://hub:8080', token: 'mrc_x' });
    const { hubUrl: _u, token: _t, ...bare } = good;
    expect(parsePowerConfig(bare, 'p.json', { MERIDIAN_URL: 'https://h', MERIDIAN_TOKEN: 'mrc_y' })).toMatchObject({ hubUrl: 'https://h', token: 'mrc_y' });
    expect(parsePowerConfig({ cluster: 'c', approval: 'always', start: ['/usr/bin/x'], stop: ['/usr/bin/kill', '{node}'] }, 'p.json').approval).toBe('always');
  });

  it.each([
    [[], /must be a JSON object/],
    [{ ...good, cluster: '' }, /"cluster" is required/],
    [{ ...good, approval: 'yes' }, /"approval" must be "hub".*"always"/],
    [{ ...good, hubUrl: undefined }, /"hubUrl" is required with approval "hub".*MERIDIAN_URL/],
    [{ ...good, token: undefined }, /"token" is required with approval "hub"/],
    [{ ...good, hubUrl: 'hub:8080' }, /"hubUrl" must be the hub's http\(s\) URL/],
    [{ ...good, start: 'slurmd -N {node}' }, /"start" must be a non-empty argv list/],
    [{ ...good, start: [] }, /"start" must be a non-empty argv list/],
    [{ ...good, start: ['slurmd', '-N', '{node}'] }, /"start" must start with the program's absolute path, e.g. "\/usr\/sbin\/slurmd" \(got "slurmd"\)/],
    [{ ...good, stop: ['pkill', '-f', '{node}'] }, /"stop" must start with the program's absolute path/],
    [{ ...good, stop: { pid: 'x' } }, /"stop" must be an argv list or \{"pidFile"/],
    [{ ...good, timeoutMs: -1 }, /"timeoutMs" must be a positive number/],
    [{ ...good, startCmd: ['x'] }, /"startCmd" is not a power config field/],
  ])('rejects %j naming the field', (raw, message) => {
    expect(() => parsePowerConfig(raw, 'p.json')).toThrow(message);
  });
});

describe('subst', () => {
  it('fills {node} and {conf}', () => {
    expect(subst(['/usr/sbin/slurmd', '-b', '-N', '{node}', '-f', '{conf}'], 'cloud-0', { slurmConf: '/etc/s.conf' })).toEqual(['/usr/sbin/slurmd', '-b', '-N', 'cloud-0', '-f', '/etc/s.conf']);
  });
});
