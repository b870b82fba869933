//! PNG input: a gray level per pixel, as float32.
use super::{check_spec, encode_one, InputError};
use crate::tensor::dtype_name;
use sibyl_sdk::state::{DType, TensorSpec};

/// A PNG image as a float32 input, each pixel `byte · pixel_max / 255`
/// (computed in f64, then rounded to f32), where `byte` is the pixel's 8-bit
/// gray level: gray and gray+alpha images use the gray channel, RGB and RGBA
/// the luminance `(19595·R + 38470·G + 7471·B + 32768) >> 16` (ITU-R 601-2,
/// as PIL's `convert("L")`); alpha is ignored; 16-bit samples use their high
/// byte; palette and low-bit-depth images are expanded first.
///
/// After dropping the spec's leading dimensions that are 1 (or dynamic, which
/// then become 1), what remains must be `[height·width]` or `[height, width]`
/// (a dynamic dimension there takes the image's size), e.g. `[1, 64]` or
/// `[1, 1, 8, 8]` for an 8×8 image.
pub fn from_png(bytes: &[u8], spec: &TensorSpec, pixel_max: f32) -> Result<Vec<u8>, InputError> {
    png_input(bytes, spec, |byte| {
        to_f32(f64::from(byte) * f64::from(pixel_max) / 255.0)
    })
}

/// Like [`from_png`], but each value is rounded to the nearest integer:
/// `round(byte · pixel_max / 255)`. This inverts images written as
/// `round(value · 255 / pixel_max)` from integer-valued inputs, such as the
/// digits samples in `models/samples` (pixel_max 16; see `png_scale` in
/// `models/fixtures.json`), so the PNG gives the same input as the JSON.
pub fn from_png_rounded(
    bytes: &[u8],
    spec: &TensorSpec,
    pixel_max: f32,
) -> Result<Vec<u8>, InputError> {
    png_input(bytes, spec, |byte| {
        to_f32((f64::from(byte) * f64::from(pixel_max) / 255.0).round())
    })
}

/// Rounds to the nearest f32: a pixel value is at most `pixel_max`, an f32.
#[allow(clippy::cast_possible_truncation)]
fn to_f32(value: f64) -> f32 {
    value as f32
}

fn png_input(
    bytes: &[u8],
    spec: &TensorSpec,
    value: impl Fn(u8) -> f32,
) -> Result<Vec<u8>, InputError> {
    check_spec(spec)?;
    if spec.dtype != DType::Float32 {
        return Err(InputError::PngDType(dtype_name(spec.dtype)));
    }
    let (width, height, gray) = decode_gray8(bytes)?;
    let dims = png_dims(spec, width, height)?;
    let data = gray
        .into_iter()
        .flat_map(|byte| value(byte).to_le_bytes())
        .collect();
    encode_one(spec, dims, data)
}

fn png_dims(spec: &TensorSpec, width: u32, height: u32) -> Result<Vec<u64>, InputError> {
    let size_error = || InputError::PngSize {
        width,
        height,
        shape: spec.shape.clone(),
    };
    let (h, w) = (u64::from(height), u64::from(width));
    let shape = &spec.shape;
    let unit = |d: i64| d == 1 || d == -1;
    let fits = |d: i64, size: u64| d == -1 || u64::try_from(d) == Ok(size);
    // Drop leading 1s (or dynamic dimensions, which become 1) down to two.
    let leading = shape
        .iter()
        .take(shape.len().saturating_sub(2))
        .take_while(|&&d| unit(d))
        .count();
    let rest = match shape.get(leading..) {
        Some(&[n]) if fits(n, h * w) => vec![h * w],
        Some(&[a, b]) if fits(a, h) && fits(b, w) => vec![h, w],
        Some(&[a, n]) if unit(a) && fits(n, h * w) => vec![1, h * w],
        _ => return Err(size_error()),
    };
    let mut dims = vec![1u64; leading];
    dims.extend(rest);
    Ok(dims)
}

/// The 8-bit gray level of RGB high bytes: ITU-R 601-2 luma in 16-bit fixed
/// point, rounded.
fn luminance(r: u8, g: u8, b: u8) -> u8 {
    let luma = (19595 * u32::from(r) + 38470 * u32::from(g) + 7471 * u32::from(b) + 32768) >> 16;
    // The weights sum to 2^16, so the luma is at most 255.
    #[allow(clippy::cast_possible_truncation)]
    let luma = luma as u8;
    luma
}

/// Width, height and 8-bit gray pixels in row-major order.
fn decode_gray8(bytes: &[u8]) -> Result<(u32, u32, Vec<u8>), InputError> {
    let png_error = |error: png::DecodingError| InputError::Png(error.to_string());
    let mut decoder = png::Decoder::new(bytes);
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(png_error)?;
    let mut buffer = vec![0u8; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).map_err(png_error)?;
    let too_large = || InputError::Png("the image is too large".to_string());
    let width = usize::try_from(info.width).map_err(|_| too_large())?;
    let height = usize::try_from(info.height).map_err(|_| too_large())?;
    let bytes_per_sample = match info.bit_depth {
        png::BitDepth::Eight => 1,
        png::BitDepth::Sixteen => 2,
        other => {
            return Err(InputError::Png(format!(
                "unexpected bit depth {other:?} after expansion"
            )))
        }
    };
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => {
            return Err(InputError::Png(
                "palette image was not expanded".to_string(),
            ))
        }
    };
    if info.line_size == 0 {
        return Err(InputError::Png("empty scan lines".to_string()));
    }
    let row_len = width * channels * bytes_per_sample;
    let mut gray = Vec::with_capacity(width.saturating_mul(height));
    for row in buffer.chunks(info.line_size).take(height) {
        let row = row
            .get(..row_len)
            .ok_or_else(|| InputError::Png("short scan line".to_string()))?;
        for pixel in row.chunks_exact(channels * bytes_per_sample) {
            // PNG samples are big-endian: each one's first byte is its high byte.
            let mut samples = pixel.iter().step_by(bytes_per_sample).copied();
            gray.push(match (samples.next(), samples.next(), samples.next()) {
                (Some(r), Some(g), Some(b)) if channels >= 3 => luminance(r, g, b),
                (Some(level), ..) => level,
                (None, ..) => return Err(InputError::Png("empty pixel".to_string())),
            });
        }
    }
    if gray.len() != width * height {
        return Err(InputError::Png(
            "image data is shorter than its size".to_string(),
        ));
    }
    Ok((info.width, info.height, gray))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{one, spec};
    use super::*;
    use crate::tensor;

    fn png_bytes(
        width: u32,
        height: u32,
        color: png::ColorType,
        depth: png::BitDepth,
        data: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, width, height);
            encoder.set_color(color);
            encoder.set_depth(depth);
            let mut writer = encoder.write_header().unwrap();
            writer.write_image_data(data).unwrap();
        }
        out
    }

    #[test]
    fn png_color_types_and_depths() {
        let gray = png_bytes(
            2,
            1,
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
            &[0, 255],
        );
        let t = one(&from_png(&gray, &spec(DType::Float32, &[1, 2]), 1.0).unwrap());
        assert_eq!(tensor::values_f64(&t), vec![0.0, 1.0]);

        let gray_alpha = png_bytes(
            2,
            1,
            png::ColorType::GrayscaleAlpha,
            png::BitDepth::Eight,
            &[51, 0, 102, 255],
        );
        let t = one(&from_png(&gray_alpha, &spec(DType::Float32, &[2]), 255.0).unwrap());
        assert_eq!(tensor::values_f64(&t), vec![51.0, 102.0]);

        let rgb = png_bytes(
            2,
            1,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            &[255, 0, 0, 10, 10, 10],
        );
        let t = one(&from_png(&rgb, &spec(DType::Float32, &[2]), 255.0).unwrap());
        assert_eq!(tensor::values_f64(&t), vec![76.0, 10.0]);

        let rgba = png_bytes(
            1,
            1,
            png::ColorType::Rgba,
            png::BitDepth::Eight,
            &[0, 255, 0, 7],
        );
        let t = one(&from_png(&rgba, &spec(DType::Float32, &[1]), 255.0).unwrap());
        assert_eq!(tensor::values_f64(&t), vec![150.0]);

        let deep = png_bytes(
            2,
            1,
            png::ColorType::Grayscale,
            png::BitDepth::Sixteen,
            &[0x12, 0x34, 0xff, 0x00],
        );
        let t = one(&from_png(&deep, &spec(DType::Float32, &[2]), 255.0).unwrap());
        assert_eq!(tensor::values_f64(&t), vec![18.0, 255.0]);

        let shallow = png_bytes(
            4,
            1,
            png::ColorType::Grayscale,
            png::BitDepth::One,
            &[0b1010_0000],
        );
        let t = one(&from_png(&shallow, &spec(DType::Float32, &[4]), 1.0).unwrap());
        assert_eq!(tensor::values_f64(&t), vec![1.0, 0.0, 1.0, 0.0]);
    }

    #[test]
    fn png_sixteen_bit_rgba_uses_high_bytes() {
        let rgba = png_bytes(
            1,
            1,
            png::ColorType::Rgba,
            png::BitDepth::Sixteen,
            &[0xff, 0x01, 0xff, 0x02, 0xff, 0x03, 0x00, 0x04],
        );
        let t = one(&from_png(&rgba, &spec(DType::Float32, &[1]), 255.0).unwrap());
        assert_eq!(tensor::values_f64(&t), vec![255.0]);
        assert_eq!(luminance(255, 255, 255), 255);
        assert_eq!(luminance(0, 0, 0), 0);
    }

    #[test]
    fn png_shapes() {
        let image = png_bytes(
            4,
            2,
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
            &[0; 8],
        );
        let dims = |shape: &[i64]| {
            from_png(&image, &spec(DType::Float32, shape), 1.0).map(|e| one(&e).dims)
        };
        assert_eq!(dims(&[1, 8]).unwrap(), vec![1, 8]);
        assert_eq!(dims(&[8]).unwrap(), vec![8]);
        assert_eq!(dims(&[1, 1, 2, 4]).unwrap(), vec![1, 1, 2, 4]);
        assert_eq!(dims(&[2, 4]).unwrap(), vec![2, 4]);
        assert_eq!(dims(&[-1, 8]).unwrap(), vec![1, 8]);
        assert_eq!(dims(&[-1, 1, -1, -1]).unwrap(), vec![1, 1, 2, 4]);
        assert_eq!(dims(&[1, -1]).unwrap(), vec![1, 8]);
        assert!(matches!(
            dims(&[1, 1, 4, 2]),
            Err(InputError::PngSize { .. })
        ));
        assert!(matches!(dims(&[1, 9]), Err(InputError::PngSize { .. })));
        assert!(matches!(dims(&[3, 2, 4]), Err(InputError::PngSize { .. })));
        assert!(matches!(
            from_png(&image, &spec(DType::Uint8, &[8]), 1.0),
            Err(InputError::PngDType("uint8"))
        ));
        assert!(matches!(
            from_png(b"GIF89a", &spec(DType::Float32, &[8]), 1.0),
            Err(InputError::Png(_))
        ));
    }

    /// Every prefix of a good image that cuts into its pixel data is refused,
    /// not a panic; only the trailing IEND chunk may be missing.
    #[test]
    fn png_truncated() {
        let image = png_bytes(3, 2, png::ColorType::Rgb, png::BitDepth::Eight, &[7; 18]);
        let floats = spec(DType::Float32, &[-1]);
        assert!(from_png(&image, &floats, 1.0).is_ok());
        let iend = 12;
        for len in 0..image.len() {
            match from_png(&image[..len], &floats, 1.0) {
                Ok(_) => assert!(len >= image.len() - iend, "{len}"),
                Err(error) => assert!(matches!(error, InputError::Png(_)), "{len}: {error:?}"),
            }
        }
    }
}
