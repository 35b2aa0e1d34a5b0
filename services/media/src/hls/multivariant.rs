use std::fmt::Write;

/// One variant stream of a multivariant playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub uri: String,
    /// Peak bits per second, as measured over recent segments.
    pub bandwidth: u64,
    pub average_bandwidth: Option<u64>,
    pub codecs: Vec<String>,
    pub resolution: Option<(u32, u32)>,
    pub frame_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MultivariantPlaylist {
    pub variants: Vec<Variant>,
}

impl MultivariantPlaylist {
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n");
        for variant in &self.variants {
            let _ = write!(out, "#EXT-X-STREAM-INF:BANDWIDTH={}", variant.bandwidth);
            if let Some(average) = variant.average_bandwidth {
                let _ = write!(out, ",AVERAGE-BANDWIDTH={average}");
            }
            if !variant.codecs.is_empty() {
                let _ = write!(out, ",CODECS=\"{}\"", variant.codecs.join(","));
            }
            if let Some((width, height)) = variant.resolution {
                let _ = write!(out, ",RESOLUTION={width}x{height}");
            }
            if let Some(rate) = variant.frame_rate {
                let _ = write!(out, ",FRAME-RATE={rate:.3}");
            }
            let _ = write!(out, "\n{}\n", variant.uri);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_variant() {
        let playlist = MultivariantPlaylist {
            variants: vec![Variant {
                uri: "media.m3u8".into(),
                bandwidth: 2_800_000,
                average_bandwidth: Some(2_600_000),
                codecs: vec!["avc1.64001f".into(), "mp4a.40.2".into()],
                resolution: Some((1280, 720)),
                frame_rate: Some(30.0),
            }],
        };
        assert_eq!(
            playlist.render(),
            "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=2800000,AVERAGE-BANDWIDTH=2600000,\
             CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,FRAME-RATE=30.000\n\
             media.m3u8\n"
        );
    }
}
