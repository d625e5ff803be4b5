// Reads an image's pixel size from its header (JPEG or WebP), so the tests
// check the bytes Kiln served rather than what it says about them.
export interface ImageInfo {
  format: "jpeg" | "webp";
  width: number;
  height: number;
}

export function imageInfo(bytes: Uint8Array): ImageInfo {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return jpeg(bytes, view);
  const ascii = (at: number, length: number) => String.fromCharCode(...bytes.subarray(at, at + length));
  if (ascii(0, 4) === "RIFF" && ascii(8, 4) === "WEBP") return webp(bytes, view, ascii(12, 4));
  throw new Error(`not a JPEG or WebP file (starts ${Buffer.from(bytes.subarray(0, 12)).toString("hex")})`);
}

function jpeg(bytes: Uint8Array, view: DataView): ImageInfo {
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) throw new Error(`JPEG: no marker at byte ${at}`);
    const marker = bytes[at + 1] ?? 0;
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2; // no length
      continue;
    }
    const length = view.getUint16(at + 2);
    // Start of frame: every SOFn but DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { format: "jpeg", height: view.getUint16(at + 5), width: view.getUint16(at + 7) };
    }
    at += 2 + length;
  }
  throw new Error("JPEG: no start-of-frame marker");
}

function webp(bytes: Uint8Array, view: DataView, chunk: string): ImageInfo {
  switch (chunk) {
    case "VP8 ": {
      // Lossy: a 3-byte frame tag, the start code 9d 01 2a, then 14-bit sizes.
      if (bytes[23] !== 0x9d || bytes[24] !== 0x01 || bytes[25] !== 0x2a) throw new Error("WebP VP8: bad start code");
      return { format: "webp", width: view.getUint16(26, true) & 0x3fff, height: view.getUint16(28, true) & 0x3fff };
    }
    case "VP8L": {
      // Lossless: signature 0x2f, then width-1 and height-1 in 14 bits each.
      if (bytes[20] !== 0x2f) throw new Error("WebP VP8L: bad signature");
      const bits = view.getUint32(21, true);
      return { format: "webp", width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
    }
    case "VP8X": {
      // Extended: flags, then the canvas width-1 and height-1 in 24 bits each.
      const u24 = (at: number) => (bytes[at] ?? 0) | ((bytes[at + 1] ?? 0) << 8) | ((bytes[at + 2] ?? 0) << 16);
      return { format: "webp", width: u24(24) + 1, height: u24(27) + 1 };
    }
    default:
      throw new Error(`WebP: unknown first chunk ${JSON.stringify(chunk)}`);
  }
}
