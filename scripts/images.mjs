#!/usr/bin/env node
// Builds the OCI images the real worker nodes run, from Debian packages and this repository only (no
// registry is reachable): each image is an OCI archive cached under ~/.cache/meridian/images/<name>-<hash>/,
// where <hash> is the content hash of its recipe (packages, suite, mirror, the files it copies), and the hash
// is also the image's tag, so a changed recipe is a new image and an unchanged one costs nothing.
//
//   node scripts/images.mjs [name ...]           build what is missing, print one line per image
//   node scripts/images.mjs --json [name ...]    the same, then {name: {ref, archive}} as JSON on stdout
//   node scripts/images.mjs --import SOCKET [name ...]   also load them into that containerd (namespace k8s.io)
//
// Images: pause (the pod sandbox, a static C program), job-runner (Debian bookworm minbase with bash,
// coreutils, python3, ca-certificates and rclone: the default image of Meridian Kubernetes jobs), node-base
// (minbase with ca-certificates and the C++ runtime) and edge-agent (node-base + this machine's Node.js + the
// agent's packages, built (dist/), and their node_modules; it starts bin/edge-agent.js, which runs dist/main.js). Each is also tagged with
// the repository's version (meridian.local/<name>:<version>), the tag the Helm charts default to.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cacheDir = process.env.MERIDIAN_CACHE ?? join(homedir(), '.cache', 'meridian');
export const imagesDir = join(cacheDir, 'images');
export const registry = 'meridian.local';
const suite = 'bookworm';
const mirror = 'http://deb.debian.org/debian';
/** Bumped when the way images are assembled changes (so every hash changes with it). */
const RECIPE_VERSION = 2;
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
/** The edge agent's image: these workspace packages, their package.json files and the shared node_modules. */
const AGENT_PACKAGES = ['protocol', 'native', 'slurm-bridge', 'edge-agent'];
/** Not needed to run the agent (build, lint and test tools, the hub's Temporal worker): left out of its image. */
const AGENT_MODULES_SKIP = ['@temporalio', 'typescript', '@rolldown', 'webpack', '@swc', '@typescript-eslint', 'knip', 'eslint', '@eslint',
  'vitest', '@vitest', 'vite', 'rolldown', 'lightningcss', 'lightningcss-linux-x64-gnu', '@hpcc-js', 'dependency-cruiser', 'fast-check', 'rxjs', 'caniuse-lite'];

/** Each recipe: what goes in (hashed), how to make its single layer, and the image config. */
export const recipes = {
  pause: {
    inputs: () => [readFileSync(join(root, 'scripts/images/pause.c'))],
    layer: (work, layerTar) => {
      const fs = join(work, 'rootfs');
      mkdirSync(fs, { recursive: true });
      run('gcc', ['-static', '-O2', '-o', join(fs, 'pause'), join(root, 'scripts/images/pause.c')]);
      tarDir(fs, layerTar);
    },
    config: { Entrypoint: ['/pause'] },
  },
  'job-runner': {
    packages: ['bash', 'coreutils', 'python3', 'ca-certificates', 'rclone'],
    inputs() {
      return [suite, mirror, ...this.packages];
    },
    layer(_work, layerTar) {
      // mmdebstrap writes the root filesystem straight to a tar: the layer, owners and modes as dpkg set them.
      run('nice', ['-n', '10', 'mmdebstrap', '--quiet', '--variant=minbase', `--include=${this.packages.join(',')}`,
        '--dpkgopt=path-exclude=/usr/share/doc/*', '--dpkgopt=path-exclude=/usr/share/man/*',
        '--dpkgopt=path-exclude=/usr/share/locale/*', '--aptopt=Acquire::Languages "none"',
        suite, layerTar, `deb ${mirror} ${suite} main`]);
    },
    config: { Cmd: ['/bin/bash'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8'] },
  },
  'node-base': {
    packages: ['ca-certificates', 'libstdc++6'],
    inputs() {
      return [suite, mirror, ...this.packages];
    },
    layer(_work, layerTar) {
      run('nice', ['-n', '10', 'mmdebstrap', '--quiet', '--variant=minbase', `--include=${this.packages.join(',')}`,
        '--dpkgopt=path-exclude=/usr/share/doc/*', '--dpkgopt=path-exclude=/usr/share/man/*',
        '--dpkgopt=path-exclude=/usr/share/locale/*', '--aptopt=Acquire::Languages "none"',
        suite, layerTar, `deb ${mirror} ${suite} main`]);
    },
    config: { Cmd: ['/bin/sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8'] },
  },
  'edge-agent': {
    from: 'node-base',
    inputs() {
      // Cheap to compute yet changes with any source: every file's path, size and mtime (node_modules through the lock file).
      const h = createHash('sha256').update(imageTag('node-base')).update(readFileSync(process.execPath));
      h.update(readFileSync(join(root, 'package-lock.json')));
      for (const pkg of AGENT_PACKAGES) walk(join(root, pkg), (f, st) => h.update(`${f}\0${st.size}\0${st.mtimeMs}\0`));
      return [h.digest('hex')];
    },
    layer(work, layerTar) {
      // the image runs the built JavaScript (bin/edge-agent.js loads edge-agent/dist), never the sources
      for (const pkg of AGENT_PACKAGES) {
        if (!existsSync(join(root, pkg, 'dist'))) throw new Error(`${pkg}/dist is missing: run \`npm run build\` first (the image carries the built JavaScript)`);
      }
      const fs = join(work, 'rootfs');
      mkdirSync(join(fs, 'usr/local/bin'), { recursive: true });
      copyFileSync(process.execPath, join(fs, 'usr/local/bin/node'));
      mkdirSync(join(fs, 'app'));
      for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(root, f), join(fs, 'app', f));
      // tar copies the trees (links and modes kept), minus what the agent never loads
      const excludes = ['--exclude=./node_modules/.cache', ...AGENT_MODULES_SKIP.map((m) => `--exclude=./node_modules/${m}`), '--exclude=*.test.ts'];
      const copy = `tar -C ${JSON.stringify(root)} -cf - ${excludes.map((e) => `'${e}'`).join(' ')} ./node_modules ${AGENT_PACKAGES.map((p) => `./${p}`).join(' ')} | tar -C ${JSON.stringify(join(fs, 'app'))} -xf -`;
      run('sh', ['-c', copy]);
      tarDir(fs, layerTar);
    },
    config: {
      Entrypoint: ['/usr/local/bin/node', '/app/edge-agent/bin/edge-agent.js'],
      WorkingDir: '/app',
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8', 'NODE_ENV=production'],
    },
  },
};

/** Calls fn(path, stat) for every file under dir, node_modules folders and build outputs of tests left out. */
function walk(dir, fn) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, fn);
    else if (e.isFile()) fn(p, statSync(p));
  }
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}${r.error ? ` (${r.error.message})` : ''}`);
  return r;
}

function tarDir(dir, out) {
  run('tar', ['-C', dir, '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '-cf', out, '.']);
}

function sha256Hex(data) {
  return createHash('sha256').update(data).digest('hex');
}

async function sha256File(path) {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk);
  return h.digest('hex');
}

/** The tag of an image: the hash of everything its content depends on. */
const tags = new Map();
export function imageTag(name) {
  if (!tags.has(name)) tags.set(name, computeTag(name));
  return tags.get(name);
}

function computeTag(name) {
  const recipe = recipes[name];
  if (!recipe) throw new Error(`unknown image ${JSON.stringify(name)} (known: ${Object.keys(recipes).join(', ')})`);
  const h = createHash('sha256').update(`meridian-image-v${RECIPE_VERSION}\0${name}\0${JSON.stringify(recipe.config)}\0${recipe.from ? imageTag(recipe.from) : ''}\0`);
  for (const part of recipe.inputs()) h.update(part).update('\0');
  return h.digest('hex').slice(0, 16);
}

export function imageRef(name) {
  return `${registry}/${name}:${imageTag(name)}`;
}

/** The image's name at the repository's version, e.g. meridian.local/edge-agent:0.1.0. */
export function versionRef(name) {
  return `${registry}/${name}:${version}`;
}

/** A base image's layers, copied out of its (cached or freshly built) archive into `blobs`. */
async function baseLayers(base, blobs) {
  const { archive } = await buildImage(base);
  const index = JSON.parse(spawnSync('tar', ['-xOf', archive, './index.json'], { encoding: 'utf8' }).stdout);
  const digestOf = (d) => d.replace(/^sha256:/, '');
  const manifest = JSON.parse(spawnSync('tar', ['-xOf', archive, `./blobs/sha256/${digestOf(index.manifests[0].digest)}`], { encoding: 'utf8', maxBuffer: 1 << 24 }).stdout);
  const layers = manifest.layers.map((l) => ({ digest: digestOf(l.digest), size: l.size }));
  run('tar', ['-xf', archive, '-C', join(blobs, '..', '..'), ...layers.map((l) => `./blobs/sha256/${l.digest}`)]);
  return layers;
}

export function imageArchive(name) {
  return join(imagesDir, `${name}-${imageTag(name)}`, 'image.oci.tar');
}

/** Builds one image unless its archive is cached; returns {ref, archive, built, ms}. */
export async function buildImage(name) {
  const ref = imageRef(name);
  const archive = imageArchive(name);
  if (existsSync(archive)) return { ref, archive, built: false, ms: 0 };
  const t0 = Date.now();
  const dest = dirname(archive);
  const work = `${dest}.partial-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    const layout = join(work, 'oci');
    const blobs = join(layout, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    // The base image's layers first (taken from its archive), then this image's own.
    const layers = recipes[name].from ? await baseLayers(recipes[name].from, blobs) : [];
    const layerTar = join(work, 'layer.tar');
    recipes[name].layer(work, layerTar);
    rmSync(join(work, 'rootfs'), { recursive: true, force: true });
    // Uncompressed layers: a digest is its diff ID, and nothing is compressed only to be unpacked again.
    const layerDigest = await sha256File(layerTar);
    layers.push({ digest: layerDigest, size: statSync(layerTar).size });
    renameSync(layerTar, join(blobs, layerDigest));
    const blob = (obj) => {
      const data = Buffer.from(JSON.stringify(obj));
      const digest = sha256Hex(data);
      writeFileSync(join(blobs, digest), data);
      return { digest: `sha256:${digest}`, size: data.length };
    };
    const config = blob({
      architecture: 'amd64',
      os: 'linux',
      created: '1970-01-01T00:00:00Z',
      config: recipes[name].config,
      rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${l.digest}`) },
      history: [{ created: '1970-01-01T00:00:00Z', created_by: `scripts/images.mjs ${name}` }],
    });
    const manifest = blob({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${l.digest}`, size: l.size })),
    });
    writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    // Two names for one manifest: the content-hash tag, and the version tag the charts default to.
    writeFileSync(join(layout, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      manifests: [ref, versionRef(name)].map((r) => ({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...manifest,
        platform: { architecture: 'amd64', os: 'linux' },
        annotations: { 'io.containerd.image.name': r, 'org.opencontainers.image.ref.name': r.split(':').pop() },
      })),
    }));
    tarDir(layout, join(work, 'image.oci.tar'));
    rmSync(layout, { recursive: true, force: true });
    rmSync(dest, { recursive: true, force: true });
    renameSync(work, dest); // atomic: a half-built image never looks cached
    // older builds of this image are superseded (the agent's is rebuilt whenever a source changes)
    for (const e of readdirSync(imagesDir)) if (e.startsWith(`${name}-`) && /^[0-9a-f]{16}$/.test(e.slice(name.length + 1)) && join(imagesDir, e) !== dest) rmSync(join(imagesDir, e), { recursive: true, force: true });
    return { ref, archive, built: true, ms: Date.now() - t0 };
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw new Error(`image ${name}: build failed: ${err.message}`);
  }
}

/** Loads an image archive into a containerd (namespace k8s.io, where the kubelet's CRI looks). */
export function importImage(socket, archive) {
  const r = spawnSync('ctr', ['--address', socket, '--namespace', 'k8s.io', 'images', 'import', archive], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ctr images import ${archive} into ${socket} exited ${r.status ?? r.signal}: ${(r.stderr || r.stdout || '').trim()}`);
}

async function main() {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const importAt = args.includes('--import') ? args[args.indexOf('--import') + 1] : undefined;
  const names = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--import');
  for (const n of names) if (!recipes[n]) throw new Error(`unknown image ${JSON.stringify(n)} (known: ${Object.keys(recipes).join(', ')})`);
  const out = {};
  for (const name of names.length ? names : Object.keys(recipes)) {
    const r = await buildImage(name);
    const line = r.built ? `built in ${(r.ms / 1000).toFixed(1)} s` : 'cached (skip)';
    console.error(`[images] ${r.ref}: ${line} (${r.archive})`);
    if (importAt) importImage(importAt, r.archive);
    out[name] = { ref: r.ref, archive: r.archive };
  }
  if (json) console.log(JSON.stringify(out));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(`[images] ${err.message}`);
    process.exit(1);
  });
}
