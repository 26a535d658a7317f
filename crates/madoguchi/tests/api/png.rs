//! A small PNG writer for tests (V3): real images to upload and to see in screenshots,
//! without an image library. Uncompressed (stored deflate blocks), 8-bit RGB.

#![allow(dead_code)]

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in bytes {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A `width` × `height` PNG whose pixel (x, y) is `pixel(x, y)` as RGB.
pub fn png(width: u32, height: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(((width * 3 + 1) * height) as usize);
    for y in 0..height {
        raw.push(0); // no filter
        for x in 0..width {
            raw.extend_from_slice(&pixel(x, y));
        }
    }
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A picture for screenshots: a sky-to-sea gradient with a sun and a horizon.
pub fn sample_photo(width: u32, height: u32) -> Vec<u8> {
    png(width, height, |x, y| {
        let (w, h) = (width as f32, height as f32);
        let (fx, fy) = (x as f32 / w, y as f32 / h);
        let (sx, sy) = (fx - 0.7, fy - 0.35);
        if sx * sx * (w / h) * (w / h) + sy * sy < 0.012 {
            return [255, 214, 102];
        }
        if fy < 0.6 {
            let t = fy / 0.6;
            [
                (120.0 + 120.0 * t) as u8,
                (170.0 + 60.0 * t) as u8,
                (235.0 - 20.0 * t) as u8,
            ]
        } else {
            let t = (fy - 0.6) / 0.4;
            let wave = if ((x / 6 + y / 3) % 7) == 0 {
                20.0
            } else {
                0.0
            };
            [
                (30.0 + wave) as u8,
                (110.0 - 40.0 * t + wave) as u8,
                (160.0 - 50.0 * t + wave) as u8,
            ]
        }
    })
}
