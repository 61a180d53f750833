// The query commands' parsers: getopt, -O/-o columns, hostlists, Slurm time arguments and the account table.
import { describe, expect, it } from 'vitest';
import type { OptError} from './getopt.ts';
import { getopt, optSpec } from './getopt.ts';
import { cell, parseLong, parsePercent, renderTable } from './columns.ts';
import { compressHostlist } from './hostlist.ts';
import { parseSlurmTime } from './slurm-time.ts';
import { AccountsFileError, mayUse, parseAccounts } from './accounts.ts';

const SPEC = optSpec([['a', 'all', 'all', false], ['h', 'noheader', 'noheader', false], ['o', 'format', 'format', true], ['N', 'Node', 'node', false], ['O', 'Format', 'Format', true]]);

describe('getopt', () => {
  it('reads bundled flags with a value at the end, as Open OnDemand passes them', () => {
    const s = getopt('sinfo', ['-aho %F/%C'], SPEC);
    expect([...s.flags]).toEqual(['all', 'noheader']);
    expect(s.values.get('format')).toBe(' %F/%C');
    const t = getopt('sinfo', ['-ahNO', 'nodehost:100', 'extra'], SPEC);
    expect([...t.flags]).toEqual(['all', 'noheader', 'node']);
    expect([t.values.get('Format'), t.positional]).toEqual(['nodehost:100', ['extra']]);
    expect(getopt('sinfo', ['--form=x'], SPEC).values.get('format')).toBe('x'); // unique abbreviation
  });

  it('refuses as getopt does, naming the option', () => {
    const err = (argv: string[], cmd = 'sinfo') => {
      try {
        getopt(cmd, argv, SPEC);
      } catch (e) {
        return (e as OptError).stderr;
      }
      return 'accepted';
    };
    expect(err(['-Z'])).toBe(`sinfo: invalid option -- 'Z'\nTry "sinfo --help" for more information\n`);
    expect(err(['--bogus'])).toBe(`sinfo: unrecognized option '--bogus'\nTry "sinfo --help" for more information\n`);
    expect(err(['-o'])).toBe(`sinfo: option requires an argument -- 'o'\nTry "sinfo --help" for more information\n`);
    expect(err(['--all=1'])).toBe(`sinfo: option '--all' doesn't allow an argument\nTry "sinfo --help" for more information\n`);
    expect(err(['--format'], 'sacct')).toBe(`sacct: option '--format' requires an argument\n`);
  });
});

describe('columns', () => {
  const table = { JobID: { title: 'JOBID' }, Name: { title: 'NAME' } };
  const lookup = (n: string) => (n === 'JobID' ? (r: { id: string }) => r.id : n === 'Name' ? () => 'job' : undefined);
  it('-O: 20 wide by default, `:` unpadded with a suffix, `.` right-justified, names case-insensitive', () => {
    const bad: string[] = [];
    const cols = parseLong('jobid,name:\x1F,JobID:.6|,Bogus:3', table, lookup, (n) => bad.push(n));
    expect(bad).toEqual(['Bogus']);
    expect(renderTable(cols, [{ id: '42' }], true)).toBe(`${'JOBID'.padEnd(20)}NAME\x1F JOBID|   \n${'42'.padEnd(20)}job\x1F    42|   \n`);
  });
  it('-o: literal text kept, unknown letters printed as written', () => {
    const bad: string[] = [];
    const cols = parsePercent(' %i/%.3j%q!', { i: 'ID', j: 'NAME' }, (l) => (l === 'i' ? () => '7' : () => 'abcdef'), (l) => bad.push(l));
    expect(renderTable(cols, [{}], false)).toBe(' 7/abc%q!\n');
    expect(bad).toEqual(['q']);
    expect(cell('abcdef', 3, true)).toBe('abc');
  });
});

describe('hostlists, times, the account table', () => {
  it('compresses host names as Slurm does', () => {
    expect(compressHostlist(['gpu-1', 'gpu-0', 'gpu-3', 'login'])).toBe('gpu-[0-1,3],login');
    expect(compressHostlist(['n01', 'n02'])).toBe('n[01-02]');
    expect(compressHostlist(['a7'])).toBe('a7');
  });
  it('reads Slurm time arguments and refuses others', () => {
    const now = new Date(2026, 11, 7, 15, 30, 0).getTime();
    expect(parseSlurmTime('2026-12-01', now)).toBe(new Date(2026, 11, 1).getTime() / 1000);
    expect(parseSlurmTime('2026-12-01T10:05', now)).toBe(new Date(2026, 11, 1, 10, 5).getTime() / 1000);
    expect(parseSlurmTime('now-1hours', now)).toBe(now / 1000 - 3600);
    expect(parseSlurmTime('midnight', now)).toBe(new Date(2026, 11, 7).getTime() / 1000);
    expect(parseSlurmTime('12/24', now)).toBe(new Date(2026, 11, 24).getTime() / 1000);
    for (const bad of ['garbage', '2026-13-01', '25:00', 'now-x', '']) expect(parseSlurmTime(bad, now), bad).toBeUndefined();
  });
  it('parses the account table and names the line of a bad one', () => {
    const t = parseAccounts('# comment\nphysics phys-lab alice,bob normal,long\nchem chemistry\n');
    expect(t).toEqual([
      { account: 'physics', project: 'phys-lab', users: ['alice', 'bob'], qos: ['normal', 'long'] },
      { account: 'chem', project: 'chemistry', users: '*', qos: ['normal'] },
    ]);
    expect([mayUse(t[0]!, 'alice'), mayUse(t[0]!, 'eve'), mayUse(t[1]!, 'eve')]).toEqual([true, false, true]);
    const bad = (text: string) => {
      try {
        parseAccounts(text, 'f');
      } catch (e) {
        return e instanceof AccountsFileError ? e.message : 'other';
      }
      return 'accepted';
    };
    expect(bad('physics\n')).toBe('f line 1: account "physics" names no project; write "account project [users] [qos]"');
    expect(bad('a b c d e\n')).toBe('f line 1: expected "account project [users] [qos]", got 1 more word(s)');
    expect(bad('a b\na c\n')).toBe('f line 2: account "a" is listed twice');
    expect(bad('a b/c\n')).toBe('f line 1: project "b/c" must be 1-64 letters, digits, \'_\', \'.\' or \'-\'');
  });
});
