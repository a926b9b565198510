//! Geohash math for the geo commands, ported from Redis' `geohash.c` and
//! `geohash_helper.c` so that scores, positions, distances and search areas are
//! bit-for-bit those of redis-server.
//!
//! A geo member is a sorted-set member whose score is a 52-bit interleaved geohash
//! (26 steps of longitude and latitude bits) over the Web-Mercator limits
//! (longitude ±180, latitude ±85.05112878). Distances use the haversine formula on a
//! sphere of radius 6372797.560856 m, as Redis does.

/// Bits per coordinate of a stored geohash (52 bits in all).
pub const STEP_MAX: u8 = 26;
/// Smallest longitude.
pub const LONG_MIN: f64 = -180.0;
/// Largest longitude.
pub const LONG_MAX: f64 = 180.0;
/// Smallest latitude (EPSG:900913 limit).
pub const LAT_MIN: f64 = -85.05112878;
/// Largest latitude.
pub const LAT_MAX: f64 = 85.05112878;
/// Earth's quadratic mean radius for WGS-84, as Redis uses it.
pub const EARTH_RADIUS_M: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

fn deg_rad(a: f64) -> f64 {
    a * D_R
}

fn rad_deg(a: f64) -> f64 {
    a / D_R
}

/// A geohash of `step` bits per coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashBits {
    /// Interleaved bits (longitude bits in the odd positions).
    pub bits: u64,
    /// Bits per coordinate.
    pub step: u8,
}

impl HashBits {
    /// Redis' `HASHISZERO`: an excluded neighbour.
    pub fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

/// A coordinate interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Lower bound.
    pub min: f64,
    /// Upper bound.
    pub max: f64,
}

impl Range {
    fn is_zero(&self) -> bool {
        self.min == 0.0 && self.max == 0.0
    }
}

/// The cell a geohash denotes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Area {
    /// The hash.
    pub hash: HashBits,
    /// Longitude interval.
    pub longitude: Range,
    /// Latitude interval.
    pub latitude: Range,
}

/// The coordinate ranges of stored geohashes.
pub const LONG_RANGE: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
/// Latitude range of stored geohashes.
pub const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let mut x = xlo as u64;
    let mut y = ylo as u64;
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let mut x = interleaved;
    let mut y = interleaved >> 1;
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// Encodes a position with `step` bits per coordinate over the given ranges
/// (`geohashEncode`). `None` outside the Mercator limits or the ranges.
pub fn encode(
    long_range: Range,
    lat_range: Range,
    longitude: f64,
    latitude: f64,
    step: u8,
) -> Option<HashBits> {
    if step > 32 || step == 0 || lat_range.is_zero() || long_range.is_zero() {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return None;
    }
    if latitude < lat_range.min
        || latitude > lat_range.max
        || longitude < long_range.min
        || longitude > long_range.max
    {
        return None;
    }
    let mut lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min);
    let mut long_offset = (longitude - long_range.min) / (long_range.max - long_range.min);
    lat_offset *= (1u64 << step) as f64;
    long_offset *= (1u64 << step) as f64;
    Some(HashBits {
        bits: interleave64(lat_offset as u32, long_offset as u32),
        step,
    })
}

/// Encodes a position with the stored ranges.
pub fn encode_wgs84(longitude: f64, latitude: f64, step: u8) -> Option<HashBits> {
    encode(LONG_RANGE, LAT_RANGE, longitude, latitude, step)
}

/// The cell of a hash (`geohashDecode`).
pub fn decode(long_range: Range, lat_range: Range, hash: HashBits) -> Option<Area> {
    if hash.is_zero() || lat_range.is_zero() || long_range.is_zero() {
        return None;
    }
    let step = hash.step;
    let sep = deinterleave64(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilato = sep as u32;
    let ilono = (sep >> 32) as u32;
    let div = (1u64 << step) as f64;
    Some(Area {
        hash,
        latitude: Range {
            min: lat_range.min + (ilato as f64 * 1.0 / div) * lat_scale,
            max: lat_range.min + ((ilato as f64 + 1.0) * 1.0 / div) * lat_scale,
        },
        longitude: Range {
            min: long_range.min + (ilono as f64 * 1.0 / div) * long_scale,
            max: long_range.min + ((ilono as f64 + 1.0) * 1.0 / div) * long_scale,
        },
    })
}

/// The centre of a cell, clamped to the limits (`geohashDecodeAreaToLongLat`).
pub fn area_center(area: &Area) -> (f64, f64) {
    let lon = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (lon, lat)
}

/// The position (longitude, latitude) a sorted-set score stands for
/// (`decodeGeohash`).
pub fn decode_score(score: f64) -> Option<(f64, f64)> {
    let hash = HashBits {
        bits: score as u64,
        step: STEP_MAX,
    };
    decode(LONG_RANGE, LAT_RANGE, hash).map(|a| area_center(&a))
}

/// The sorted-set score of a position, or `None` outside the limits.
pub fn encode_score(longitude: f64, latitude: f64) -> Option<u64> {
    encode_wgs84(longitude, latitude, STEP_MAX).map(align52)
}

/// The 11-character standard geohash string of a stored score (GEOHASH).
pub fn geohash_string(score: f64) -> Option<String> {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode_score(score)?;
    let r_lon = Range {
        min: -180.0,
        max: 180.0,
    };
    let r_lat = Range {
        min: -90.0,
        max: 90.0,
    };
    // Redis ignores a failed re-encode and prints the zeroed hash.
    let bits = encode(r_lon, r_lat, lon, lat, 26).map_or(0, |h| h.bits);
    let s = (0..11)
        .map(|i| {
            let idx = if i == 10 {
                0
            } else {
                ((bits >> (52 - (i + 1) * 5)) & 0x1f) as usize
            };
            ALPHABET[idx] as char
        })
        .collect();
    Some(s)
}

fn move_x(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let y = hash.bits & 0x5555555555555555;
    let zz = 0x5555555555555555u64 >> (64 - hash.step as u32 * 2);
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaaaaaaaaaaaaaau64 >> (64 - hash.step as u32 * 2);
    hash.bits = x | y;
}

fn move_y(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let mut y = hash.bits & 0x5555555555555555;
    let zz = 0xaaaaaaaaaaaaaaaau64 >> (64 - hash.step as u32 * 2);
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555555555555555u64 >> (64 - hash.step as u32 * 2);
    hash.bits = x | y;
}

/// The eight neighbours of a cell.
#[derive(Debug, Clone, Copy, Default)]
pub struct Neighbors {
    /// North.
    pub north: HashBits,
    /// South.
    pub south: HashBits,
    /// East.
    pub east: HashBits,
    /// West.
    pub west: HashBits,
    /// North-east.
    pub north_east: HashBits,
    /// South-east.
    pub south_east: HashBits,
    /// North-west.
    pub north_west: HashBits,
    /// South-west.
    pub south_west: HashBits,
}

fn moved(h: &HashBits, dx: i8, dy: i8) -> HashBits {
    let mut m = *h;
    move_x(&mut m, dx);
    move_y(&mut m, dy);
    m
}

/// `geohashNeighbors`.
pub fn neighbors(h: &HashBits) -> Neighbors {
    Neighbors {
        east: moved(h, 1, 0),
        west: moved(h, -1, 0),
        south: moved(h, 0, -1),
        north: moved(h, 0, 1),
        north_west: moved(h, -1, 1),
        north_east: moved(h, 1, 1),
        south_east: moved(h, 1, -1),
        south_west: moved(h, -1, -1),
    }
}

/// `geohashAlign52Bits`: a hash as a 52-bit score prefix.
pub fn align52(h: HashBits) -> u64 {
    h.bits << (52 - h.step as u32 * 2)
}

/// `geohashEstimateStepsByRadius`.
pub fn estimate_steps_by_radius(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// The search shape of GEOSEARCH / GEORADIUS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ShapeKind {
    /// A circle of this radius (in the unit).
    Radius(f64),
    /// An axis-aligned box (width, height in the unit).
    Box(f64, f64),
}

/// A search area around a centre.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// Centre (longitude, latitude).
    pub xy: (f64, f64),
    /// Meters per unit.
    pub conversion: f64,
    /// Circle or box.
    pub kind: ShapeKind,
}

/// `geohashBoundingBox`: [min lon, min lat, max lon, max lat].
pub fn bounding_box(shape: &Shape) -> [f64; 4] {
    let (longitude, latitude) = shape.xy;
    let (height, width) = match shape.kind {
        ShapeKind::Radius(r) => (shape.conversion * r, shape.conversion * r),
        ShapeKind::Box(w, h) => (shape.conversion * (h / 2.0), shape.conversion * (w / 2.0)),
    };
    let lat_delta = rad_deg(height / EARTH_RADIUS_M);
    let long_delta_top = rad_deg(width / EARTH_RADIUS_M / deg_rad(latitude + lat_delta).cos());
    let long_delta_bottom = rad_deg(width / EARTH_RADIUS_M / deg_rad(latitude - lat_delta).cos());
    let southern = latitude < 0.0;
    [
        if southern {
            longitude - long_delta_bottom
        } else {
            longitude - long_delta_top
        },
        latitude - lat_delta,
        if southern {
            longitude + long_delta_bottom
        } else {
            longitude + long_delta_top
        },
        latitude + lat_delta,
    ]
}

/// The centre cell and its neighbours covering a search (`GeoHashRadius`).
#[derive(Debug, Clone, Copy)]
pub struct Areas {
    /// The centre cell.
    pub hash: HashBits,
    /// Its neighbours (zeroed when useless).
    pub neighbors: Neighbors,
}

impl Areas {
    /// The cells in Redis' search order: centre, N, S, E, W, NE, NW, SE, SW.
    pub fn cells(&self) -> [HashBits; 9] {
        let n = &self.neighbors;
        [
            self.hash,
            n.north,
            n.south,
            n.east,
            n.west,
            n.north_east,
            n.north_west,
            n.south_east,
            n.south_west,
        ]
    }
}

/// `geohashCalculateAreasByShapeWGS84`.
pub fn areas_by_shape(shape: &Shape) -> Areas {
    let b = bounding_box(shape);
    let (min_lon, min_lat, max_lon, max_lat) = (b[0], b[1], b[2], b[3]);
    let (longitude, latitude) = shape.xy;
    let radius_meters = match shape.kind {
        ShapeKind::Radius(r) => r,
        ShapeKind::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
    } * shape.conversion;
    let mut steps = estimate_steps_by_radius(radius_meters, latitude);
    let zero_area = Area {
        hash: HashBits::default(),
        longitude: Range { min: 0.0, max: 0.0 },
        latitude: Range { min: 0.0, max: 0.0 },
    };
    let cell = |steps: u8| {
        let hash = encode(LONG_RANGE, LAT_RANGE, longitude, latitude, steps).unwrap_or_default();
        let nb = neighbors(&hash);
        let area = decode(LONG_RANGE, LAT_RANGE, hash).unwrap_or(zero_area);
        (hash, nb, area)
    };
    let (mut hash, mut nb, mut area) = cell(steps);
    let dec = |h: HashBits| decode(LONG_RANGE, LAT_RANGE, h).unwrap_or(zero_area);
    let decrease = dec(nb.north).latitude.max < max_lat
        || dec(nb.south).latitude.min > min_lat
        || dec(nb.east).longitude.max < max_lon
        || dec(nb.west).longitude.min > min_lon;
    if steps > 1 && decrease {
        steps -= 1;
        (hash, nb, area) = cell(steps);
    }
    if steps >= 2 {
        let z = HashBits::default();
        if area.latitude.min < min_lat {
            nb.south = z;
            nb.south_west = z;
            nb.south_east = z;
        }
        if area.latitude.max > max_lat {
            nb.north = z;
            nb.north_east = z;
            nb.north_west = z;
        }
        if area.longitude.min < min_lon {
            nb.west = z;
            nb.south_west = z;
            nb.north_west = z;
        }
        if area.longitude.max > max_lon {
            nb.east = z;
            nb.south_east = z;
            nb.north_east = z;
        }
    }
    Areas {
        hash,
        neighbors: nb,
    }
}

/// The score interval [min, max) holding every member inside a cell.
pub fn cell_scores(h: HashBits) -> (f64, f64) {
    let min = align52(h);
    let max = align52(HashBits {
        bits: h.bits.wrapping_add(1),
        step: h.step,
    });
    (min as f64, max as f64)
}

/// Distance along a meridian.
pub fn lat_distance(lat1d: f64, lat2d: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2d) - deg_rad(lat1d)).abs()
}

/// Haversine great-circle distance in meters (`geohashGetDistance`).
pub fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lon1r = deg_rad(lon1d);
    let lon2r = deg_rad(lon2d);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1d, lat2d);
    }
    let lat1r = deg_rad(lat1d);
    let lat2r = deg_rad(lat2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// The distance from the shape's centre to (x, y) if the point is inside the shape.
pub fn distance_if_inside(shape: &Shape, x: f64, y: f64) -> Option<f64> {
    let (cx, cy) = shape.xy;
    match shape.kind {
        ShapeKind::Radius(r) => {
            let d = distance(cx, cy, x, y);
            (d <= r * shape.conversion).then_some(d)
        }
        ShapeKind::Box(w, h) => {
            let (width_m, height_m) = (w * shape.conversion, h * shape.conversion);
            if lat_distance(y, cy) > height_m / 2.0 {
                return None;
            }
            if distance(x, y, cx, y) > width_m / 2.0 {
                return None;
            }
            Some(distance(cx, cy, x, y))
        }
    }
}

/// Formats a coordinate as Redis' "human" long double (`%.17Lf` without trailing
/// zeros), as GEOPOS and WITHCOORD print it.
pub fn fmt_coord(v: f64) -> String {
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

/// Formats a distance with four decimals, as GEODIST and WITHDIST print it.
pub fn fmt_dist(v: f64) -> String {
    format!("{v:.4}")
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values printed by redis-server 7.0 for these GEOADD inputs.
    const CITIES: &[(&str, f64, f64, u64, &str, &str, &str)] = &[
        (
            "Palermo",
            13.361389,
            38.115556,
            3479099956230698,
            "sqc8b49rny0",
            "13.36138933897018433",
            "38.11555639549629859",
        ),
        (
            "Catania",
            15.087269,
            37.502669,
            3479447370796909,
            "sqdtr74hyu0",
            "15.08726745843887329",
            "37.50266842333162032",
        ),
        (
            "Paris",
            2.3522,
            48.8566,
            3663832779122514,
            "u09tvw0f640",
            "2.35219806432723999",
            "48.8565995303492997",
        ),
        (
            "NewYork",
            -74.0060,
            40.7128,
            1791873974549446,
            "dr5regw3pp0",
            "",
            "",
        ),
        (
            "Tokyo",
            139.6917,
            35.6895,
            4171231230197045,
            "xn774c06kt0",
            "139.69170123338699341",
            "35.68950126697937009",
        ),
        (
            "BuenosAires",
            -58.3816,
            -34.6037,
            887133777343301,
            "69y7pkxff40",
            "-58.38160246610641479",
            "-34.60370022923218158",
        ),
    ];

    #[test]
    fn scores_hashes_positions_match_redis() {
        for &(name, lon, lat, score, hash, plon, plat) in CITIES {
            let s = encode_score(lon, lat).unwrap();
            assert_eq!(s, score, "{name}");
            assert_eq!(geohash_string(s as f64).unwrap(), hash, "{name}");
            if !plon.is_empty() {
                let (x, y) = decode_score(s as f64).unwrap();
                assert_eq!(fmt_coord(x), plon, "{name}");
                assert_eq!(fmt_coord(y), plat, "{name}");
            }
        }
    }

    #[test]
    fn distances_match_redis() {
        let p = |i: usize| decode_score(CITIES[i].3 as f64).unwrap();
        let d = |a: usize, b: usize| {
            let (x1, y1) = p(a);
            let (x2, y2) = p(b);
            distance(x1, y1, x2, y2)
        };
        assert_eq!(fmt_dist(d(0, 1)), "166274.1516");
        assert_eq!(fmt_dist(d(0, 1) / 1000.0), "166.2742");
        assert_eq!(fmt_dist(d(2, 3) / 1609.34), "3628.1257");
        assert_eq!(fmt_dist(d(2, 4) / 0.3048), "31872740.9122");
        assert_eq!(fmt_dist(d(0, 0)), "0.0000");
    }

    #[test]
    fn limits_and_corners() {
        assert!(encode_score(180.1, 0.0).is_none());
        assert!(encode_score(0.0, 85.06).is_none());
        assert!(encode_score(-180.0, -85.05112878).is_some());
        let s = encode_score(180.0, 85.05112878).unwrap();
        let (x, y) = decode_score(s as f64).unwrap();
        assert_eq!(fmt_coord(x), "180");
        assert_eq!(fmt_coord(y), "85.0511287799999991");
        assert_eq!(geohash_string(s as f64).unwrap(), "bp05b5048p0");
        let s = encode_score(-180.0, -85.05112878).unwrap();
        let (x, y) = decode_score(s as f64).unwrap();
        assert_eq!(fmt_coord(x), "-179.99999731779098511");
        assert_eq!(fmt_coord(y), "-85.05112751263942528");
        assert_eq!(geohash_string(s as f64).unwrap(), "00bh0hbj200");
    }

    #[test]
    fn interleave_roundtrip_and_neighbors() {
        for (x, y) in [
            (0u32, 0u32),
            (1, 2),
            (0x3ff_ffff, 0x155_5555),
            (12345, 67890),
        ] {
            let v = interleave64(x, y);
            let d = deinterleave64(v);
            assert_eq!(d as u32, x);
            assert_eq!((d >> 32) as u32, y);
        }
        let h = encode_wgs84(10.0, 10.0, 10).unwrap();
        let n = neighbors(&h);
        let a = decode(LONG_RANGE, LAT_RANGE, h).unwrap();
        let an = decode(LONG_RANGE, LAT_RANGE, n.north).unwrap();
        let ae = decode(LONG_RANGE, LAT_RANGE, n.east).unwrap();
        assert!((an.latitude.min - a.latitude.max).abs() < 1e-9);
        assert!((ae.longitude.min - a.longitude.max).abs() < 1e-9);
        assert_eq!(estimate_steps_by_radius(0.0, 0.0), 26);
        assert_eq!(estimate_steps_by_radius(200_000.0, 37.0), 6);
    }

    #[test]
    fn coord_format() {
        assert_eq!(fmt_coord(180.0), "180");
        assert_eq!(fmt_coord(-0.0), "0");
        assert_eq!(fmt_coord(1.5), "1.5");
    }
}
