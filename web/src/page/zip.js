// A streaming ZIP writer (stored, no compression) for offers with several files or folders: the
// entries are written as their bytes arrive, with CRC-32 and sizes in data descriptors and ZIP64
// fields throughout, so no size limit and nothing held back but the central directory.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32Update(crc, bytes) {
  let c = crc ^ 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

class Writer {
  constructor(size) {
    this.b = new Uint8Array(size);
    this.v = new DataView(this.b.buffer);
    this.at = 0;
  }
  u16(x) { this.v.setUint16(this.at, x, true); this.at += 2; return this; }
  u32(x) { this.v.setUint32(this.at, x >>> 0, true); this.at += 4; return this; }
  u64(x) { this.u32(x % 2 ** 32); return this.u32(Math.floor(x / 2 ** 32)); }
  bytes(a) { this.b.set(a, this.at); this.at += a.length; return this; }
}

const UTF8_FLAGS = 0x0808; // bit 3: sizes in a data descriptor; bit 11: UTF-8 names

export class ZipStream {
  // emit(bytes) -> Promise: where the archive's bytes go (the download stream).
  constructor(emit) {
    this.emit = emit;
    this.offset = 0;
    this.entries = [];
    this.current = null;
  }
  async out(bytes) {
    this.offset += bytes.length;
    await this.emit(bytes);
  }
  async begin(path, isDir = false, mode = 0o644) {
    const name = new TextEncoder().encode(isDir ? path + '/' : path);
    const entry = { name, isDir, mode, offset: this.offset, crc: 0, size: 0 };
    const h = new Writer(30 + name.length)
      .u32(0x04034b50).u16(45).u16(UTF8_FLAGS).u16(0).u16(0).u16(0x21)
      .u32(0).u32(0).u32(0).u16(name.length).u16(0).bytes(name);
    await this.out(h.b);
    this.current = entry;
    this.entries.push(entry);
  }
  async write(bytes) {
    const e = this.current;
    e.crc = crc32Update(e.crc, bytes);
    e.size += bytes.length;
    await this.out(bytes);
  }
  async end() {
    const e = this.current;
    await this.out(new Writer(24).u32(0x08074b50).u32(e.crc).u64(e.size).u64(e.size).b);
    this.current = null;
  }
  async directory(path) {
    await this.begin(path, true, 0o755);
    await this.end();
  }
  async finish() {
    const start = this.offset;
    for (const e of this.entries) {
      const attr = ((e.isDir ? 0o040000 : 0o100000) | e.mode) * 65536 + (e.isDir ? 0x10 : 0);
      const c = new Writer(46 + e.name.length + 28)
        .u32(0x02014b50).u16(0x0300 | 45).u16(45).u16(UTF8_FLAGS).u16(0).u16(0).u16(0x21)
        .u32(e.crc).u32(0xffffffff).u32(0xffffffff).u16(e.name.length).u16(28).u16(0)
        .u16(0).u16(0).u32(attr).u32(0xffffffff).bytes(e.name)
        .u16(0x0001).u16(24).u64(e.size).u64(e.size).u64(e.offset);
      await this.out(c.b);
    }
    const size = this.offset - start;
    const n = this.entries.length;
    const endAt = this.offset;
    await this.out(new Writer(56 + 20 + 22)
      .u32(0x06064b50).u64(44).u16(45).u16(45).u32(0).u32(0).u64(n).u64(n).u64(size).u64(start)
      .u32(0x07064b50).u32(0).u64(endAt).u32(1)
      .u32(0x06054b50).u16(0).u16(0).u16(0xffff).u16(0xffff).u32(0xffffffff).u32(0xffffffff).u16(0).b);
  }
}
