//! Geo commands: GEOADD GEOPOS GEODIST GEOHASH GEOSEARCH GEOSEARCHSTORE GEORADIUS
//! GEORADIUSBYMEMBER GEORADIUS_RO GEORADIUSBYMEMBER_RO.
//!
//! A geo index is a sorted set whose scores are Redis' 52-bit geohashes (see
//! [`super::geohash`]), so it replicates exactly like a sorted set (add-wins members,
//! LWW positions) and every Z* command works on it. Searches scan the nine geohash cells
//! around the centre in Redis' order, so results (including the unsorted order and
//! `COUNT n ANY`) are those of redis-server. Each search builds the sorted vector of the
//! set first (O(n log n), see the `zset` module docs).
//!
//! Coordinates (GEOPOS, WITHCOORD) are printed in RESP2 exactly as Redis does (`%.17Lf`
//! without trailing zeros); in RESP3 they are doubles of that same rounded value (17
//! decimals), printed as the shortest text that round-trips it: the number a client
//! parses is Redis' (`0.00000268220901489`, not the unrounded `2.682209014892578e-06`).

use bytes::Bytes;

use super::args::{int, is, syntax_error};
use super::geohash::{self, Shape, ShapeKind};
use super::util::bulk;
use super::zset::{float_arg, parse_float, sorted, store_zset, zset_of, Entry};
use super::{CmdResult, CommandSpec, Ctx, Flag, Group};
use crate::resp::{Protocol, Reply};

const WD: &[Flag] = &[Flag::Write, Flag::Denyoom];
const WM: &[Flag] = &[Flag::Write, Flag::Denyoom, Flag::MovableKeys];
const R: &[Flag] = &[Flag::Readonly];

macro_rules! spec {
    ($name:literal, $arity:expr, $f:ident, $flags:expr, $k:expr, $since:literal, $sum:literal) => {
        CommandSpec::new($name, $arity, $f)
            .flags($flags)
            .keys($k.0, $k.1, $k.2)
            .group(Group::Geo)
            .since($since)
            .summary($sum)
    };
}

/// Geo command family.
pub static COMMANDS: &[CommandSpec] = &[
    spec!("geoadd", -5, geoadd, WD, (1, 1, 1), "3.2.0", "Adds one or more members to a geospatial index. The key is created if it doesn't exist."),
    spec!("geopos", -2, geopos, R, (1, 1, 1), "3.2.0", "Returns the longitude and latitude of members from a geospatial index."),
    spec!("geodist", -4, geodist, R, (1, 1, 1), "3.2.0", "Returns the distance between two members of a geospatial index."),
    spec!("geohash", -2, geohash_cmd, R, (1, 1, 1), "3.2.0", "Returns members from a geospatial index as geohash strings."),
    spec!("geosearch", -7, geosearch, R, (1, 1, 1), "6.2.0", "Queries a geospatial index for members inside an area of a box or a circle."),
    spec!("geosearchstore", -8, geosearchstore, WD, (1, 2, 1), "6.2.0", "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result."),
    spec!("georadius", -6, georadius, WM, (1, 1, 1), "3.2.0", "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result."),
    spec!("georadiusbymember", -5, georadiusbymember, WM, (1, 1, 1), "3.2.0", "Queries a geospatial index for members within a distance from a member, optionally stores the result."),
    spec!("georadius_ro", -6, georadius_ro, R, (1, 1, 1), "3.2.10", "Returns members from a geospatial index that are within a distance from a coordinate."),
    spec!("georadiusbymember_ro", -5, georadiusbymember_ro, R, (1, 1, 1), "3.2.10", "Returns members from a geospatial index that are within a distance from a member."),
];

fn resp3(ctx: &Ctx<'_>) -> bool {
    ctx.client.protocol() == Protocol::Resp3
}

/// A coordinate reply (Redis' `addReplyHumanLongDouble`).
fn coord_reply(resp3: bool, v: f64) -> Reply {
    if resp3 {
        let text = geohash::fmt_coord(v);
        Reply::Double(text.parse().unwrap_or(v))
    } else {
        Reply::bulk(geohash::fmt_coord(v))
    }
}

/// A distance reply: a bulk string with four decimals in every protocol.
fn dist_reply(d: f64) -> Reply {
    Reply::bulk(geohash::fmt_dist(d))
}

/// `long lat` arguments, checked against the limits.
fn lon_lat(args: &[Bytes]) -> Result<(f64, f64), Reply> {
    let lon = float_arg(&args[0])?;
    let lat = float_arg(&args[1])?;
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&lon)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        return Err(Reply::err(format!(
            "invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok((lon, lat))
}

/// Meters per unit.
fn unit(arg: &[u8]) -> Result<f64, Reply> {
    if is(arg, "m") {
        Ok(1.0)
    } else if is(arg, "km") {
        Ok(1000.0)
    } else if is(arg, "ft") {
        Ok(0.3048)
    } else if is(arg, "mi") {
        Ok(1609.34)
    } else {
        Err(Reply::err(
            "unsupported unit provided. please use M, KM, FT, MI",
        ))
    }
}

/// `radius unit`: (meters per unit, radius).
fn radius_arg(args: &[Bytes]) -> Result<(f64, f64), Reply> {
    let r = parse_float(&args[0]).ok_or_else(|| Reply::err("need numeric radius"))?;
    if r < 0.0 {
        return Err(Reply::err("radius cannot be negative"));
    }
    Ok((unit(&args[1])?, r))
}

/// `width height unit`: (meters per unit, width, height).
fn box_arg(args: &[Bytes]) -> Result<(f64, f64, f64), Reply> {
    let w = parse_float(&args[0]).ok_or_else(|| Reply::err("need numeric width"))?;
    let h = parse_float(&args[1]).ok_or_else(|| Reply::err("need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        return Err(Reply::err("height or width cannot be negative"));
    }
    Ok((unit(&args[2])?, w, h))
}

fn could_not_decode() -> Reply {
    Reply::err("could not decode requested zset member")
}

// ---------------------------------------------------------------------------------------
// GEOADD GEOPOS GEODIST GEOHASH

fn geoadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (mut nx, mut xx) = (false, false);
    let mut i = 2;
    while i < args.len() {
        if is(&args[i], "nx") {
            nx = true;
        } else if is(&args[i], "xx") {
            xx = true;
        } else if !is(&args[i], "ch") {
            break;
        }
        i += 1;
    }
    let rest = &args[i..];
    if rest.is_empty() || rest.len() % 3 != 0 || (nx && xx) {
        return Err(syntax_error());
    }
    // Turn it into ZADD key [options] score member ..., as Redis does.
    let mut zargs: Vec<Bytes> = Vec::with_capacity(i + rest.len() / 3 * 2);
    zargs.push(Bytes::from_static(b"zadd"));
    zargs.extend(args[1..i].iter().cloned());
    for t in rest.chunks(3) {
        let (lon, lat) = lon_lat(&t[..2])?;
        let score = geohash::encode_score(lon, lat).ok_or_else(|| {
            Reply::err(format!("invalid longitude,latitude pair {lon:.6},{lat:.6}"))
        })?;
        zargs.push(Bytes::from(score.to_string()));
        zargs.push(t[2].clone());
    }
    super::zset::zadd(ctx, &zargs)
}

fn geopos(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let resp3 = resp3(ctx);
    let st = ctx.store();
    let z = zset_of(&st, ctx.db(), &args[1])?;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(
                |m| match z.and_then(|z| z.score(m)).and_then(geohash::decode_score) {
                    Some((x, y)) => {
                        Reply::Array(vec![coord_reply(resp3, x), coord_reply(resp3, y)])
                    }
                    None => Reply::NullArray,
                },
            )
            .collect(),
    ))
}

fn geodist(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let to_meter = match args.len() {
        4 => 1.0,
        5 => unit(&args[4])?,
        _ => return Err(syntax_error()),
    };
    let st = ctx.store();
    let Some(z) = zset_of(&st, ctx.db(), &args[1])? else {
        return Ok(Reply::Null);
    };
    let p1 = z.score(&args[2]).and_then(geohash::decode_score);
    let p2 = z.score(&args[3]).and_then(geohash::decode_score);
    match (p1, p2) {
        (Some((x1, y1)), Some((x2, y2))) => {
            Ok(dist_reply(geohash::distance(x1, y1, x2, y2) / to_meter))
        }
        _ => Ok(Reply::Null),
    }
}

fn geohash_cmd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let st = ctx.store();
    let z = zset_of(&st, ctx.db(), &args[1])?;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|m| {
                z.and_then(|z| z.score(m))
                    .and_then(geohash::geohash_string)
                    .map_or(Reply::Null, Reply::bulk)
            })
            .collect(),
    ))
}

// ---------------------------------------------------------------------------------------
// Searches

/// Which search command (Redis' `georadiusGeneric` flags).
#[derive(Debug, Clone, Copy, Default)]
struct Mode {
    coords: bool,
    member: bool,
    nostore: bool,
    search: bool,
    searchstore: bool,
}

/// A member found by a search.
struct Point<'a> {
    member: &'a [u8],
    lon: f64,
    lat: f64,
    dist: f64,
    score: f64,
}

/// Collects the members inside `shape` from the cells around its centre, in Redis'
/// order; stops after `limit` members when `limit > 0` (ANY).
fn points_in_shape<'a>(all: &[Entry<'a>], shape: &Shape, limit: usize) -> Vec<Point<'a>> {
    let areas = geohash::areas_by_shape(shape);
    let cells = areas.cells();
    let mut out: Vec<Point<'a>> = Vec::new();
    let mut last: Option<usize> = None;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        if let Some(l) = last {
            if cells[l] == *cell {
                continue;
            }
        }
        if !out.is_empty() && limit > 0 && out.len() >= limit {
            break;
        }
        let (min, max) = geohash::cell_scores(*cell);
        let start = all.partition_point(|e| e.1 < min);
        for &(member, score) in all[start..].iter().take_while(|e| e.1 < max) {
            if let Some((lon, lat)) = geohash::decode_score(score) {
                if let Some(dist) = geohash::distance_if_inside(shape, lon, lat) {
                    out.push(Point {
                        member,
                        lon,
                        lat,
                        dist,
                        score,
                    });
                }
            }
            if !out.is_empty() && limit > 0 && out.len() >= limit {
                break;
            }
        }
        last = Some(i);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Sort {
    None,
    Asc,
    Desc,
}

fn georadius_generic(ctx: &mut Ctx<'_>, args: &[Bytes], src: usize, mode: Mode) -> CmdResult {
    let resp3 = resp3(ctx);
    let db = ctx.db();
    let mut st = ctx.store();
    let z = zset_of(&st, db, &args[src])?;
    let mut storekey: Option<&Bytes> = None;
    let mut storedist = false;
    let mut xy = (0.0, 0.0);
    let mut conversion = 1.0;
    let mut kind = ShapeKind::Radius(0.0);
    let base_args;
    if mode.coords {
        base_args = 6;
        xy = lon_lat(&args[2..4])?;
        let (c, r) = radius_arg(&args[4..6])?;
        conversion = c;
        kind = ShapeKind::Radius(r);
    } else if mode.member && z.is_none() {
        base_args = 5;
    } else if mode.member {
        base_args = 5;
        xy = z
            .and_then(|z| z.score(&args[2]))
            .and_then(geohash::decode_score)
            .ok_or_else(could_not_decode)?;
        let (c, r) = radius_arg(&args[3..5])?;
        conversion = c;
        kind = ShapeKind::Radius(r);
    } else {
        base_args = if mode.searchstore { 3 } else { 2 };
        if mode.searchstore {
            storekey = Some(&args[1]);
        }
    }
    let (mut withdist, mut withhash, mut withcoords) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: i64 = 0;
    let remaining = args.len().saturating_sub(base_args);
    let mut i = 0;
    while i < remaining {
        let at = base_args + i;
        let a = &args[at];
        if is(a, "withdist") {
            withdist = true;
        } else if is(a, "withhash") {
            withhash = true;
        } else if is(a, "withcoord") {
            withcoords = true;
        } else if is(a, "any") {
            any = true;
        } else if is(a, "asc") {
            sort = Sort::Asc;
        } else if is(a, "desc") {
            sort = Sort::Desc;
        } else if is(a, "count") && i + 1 < remaining {
            count = int(&args[at + 1])?;
            if count <= 0 {
                return Err(Reply::err("COUNT must be > 0"));
            }
            i += 1;
        } else if (is(a, "store") || is(a, "storedist"))
            && i + 1 < remaining
            && !mode.nostore
            && !mode.search
        {
            storekey = Some(&args[at + 1]);
            storedist = is(a, "storedist");
            i += 1;
        } else if is(a, "storedist") && mode.search && mode.searchstore {
            storedist = true;
        } else if is(a, "frommember") && i + 1 < remaining && mode.search && !fromloc {
            if let Some(z) = z {
                xy = z
                    .score(&args[at + 1])
                    .and_then(geohash::decode_score)
                    .ok_or_else(could_not_decode)?;
            }
            frommember = true;
            i += 1;
        } else if is(a, "fromlonlat") && i + 2 < remaining && mode.search && !frommember {
            xy = lon_lat(&args[at + 1..at + 3])?;
            fromloc = true;
            i += 2;
        } else if is(a, "byradius") && i + 2 < remaining && mode.search && !bybox {
            let (c, r) = radius_arg(&args[at + 1..at + 3])?;
            conversion = c;
            kind = ShapeKind::Radius(r);
            byradius = true;
            i += 2;
        } else if is(a, "bybox") && i + 3 < remaining && mode.search && !byradius {
            let (c, w, h) = box_arg(&args[at + 1..at + 4])?;
            conversion = c;
            kind = ShapeKind::Box(w, h);
            bybox = true;
            i += 3;
        } else {
            return Err(syntax_error());
        }
        i += 1;
    }
    if storekey.is_some() && (withdist || withhash || withcoords) {
        return Err(Reply::err(format!(
            "{} is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            if mode.searchstore {
                "GEOSEARCHSTORE"
            } else {
                "STORE option in GEORADIUS"
            }
        )));
    }
    let name = String::from_utf8_lossy(&args[0]);
    if mode.search && !(frommember || fromloc) {
        return Err(Reply::err(format!(
            "exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if mode.search && !(byradius || bybox) {
        return Err(Reply::err(format!(
            "exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if any && count == 0 {
        return Err(Reply::err("the ANY argument requires COUNT argument"));
    }
    let Some(z) = z else {
        if let Some(dst) = storekey {
            let mut w = st.write(db);
            w.delete_raw(dst);
            return Ok(Reply::Integer(0));
        }
        return Ok(Reply::Array(Vec::new()));
    };
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let shape = Shape {
        xy,
        conversion,
        kind,
    };
    let all = sorted(z);
    let mut points = points_in_shape(&all, &shape, if any { count as usize } else { 0 });
    if points.is_empty() && storekey.is_none() {
        return Ok(Reply::Array(Vec::new()));
    }
    match sort {
        Sort::Asc => points.sort_by(|a, b| a.dist.total_cmp(&b.dist)),
        Sort::Desc => points.sort_by(|a, b| b.dist.total_cmp(&a.dist)),
        Sort::None => {}
    }
    let returned = if count == 0 {
        points.len()
    } else {
        points.len().min(count as usize)
    };
    points.truncate(returned);
    for p in &mut points {
        p.dist /= conversion;
    }
    if let Some(dst) = storekey {
        let mut items: Vec<(Vec<u8>, f64)> = points
            .iter()
            .map(|p| (p.member.to_vec(), if storedist { p.dist } else { p.score }))
            .collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        items.dedup_by(|a, b| a.0 == b.0);
        let n = points.len();
        drop(points);
        let mut w = st.write(db);
        store_zset(&mut w, dst, &items);
        return Ok(Reply::Integer(n as i64));
    }
    let options = withdist || withhash || withcoords;
    Ok(Reply::Array(
        points
            .iter()
            .map(|p| {
                if !options {
                    return bulk(p.member);
                }
                let mut v = vec![bulk(p.member)];
                if withdist {
                    v.push(dist_reply(p.dist));
                }
                if withhash {
                    v.push(Reply::Integer(p.score as i64));
                }
                if withcoords {
                    v.push(Reply::Array(vec![
                        coord_reply(resp3, p.lon),
                        coord_reply(resp3, p.lat),
                    ]));
                }
                Reply::Array(v)
            })
            .collect(),
    ))
}

fn georadius(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mode = Mode {
        coords: true,
        ..Mode::default()
    };
    georadius_generic(ctx, args, 1, mode)
}

fn georadiusbymember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mode = Mode {
        member: true,
        ..Mode::default()
    };
    georadius_generic(ctx, args, 1, mode)
}

fn georadius_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mode = Mode {
        coords: true,
        nostore: true,
        ..Mode::default()
    };
    georadius_generic(ctx, args, 1, mode)
}

fn georadiusbymember_ro(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mode = Mode {
        member: true,
        nostore: true,
        ..Mode::default()
    };
    georadius_generic(ctx, args, 1, mode)
}

fn geosearch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mode = Mode {
        search: true,
        ..Mode::default()
    };
    georadius_generic(ctx, args, 1, mode)
}

fn geosearchstore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mode = Mode {
        search: true,
        searchstore: true,
        ..Mode::default()
    };
    georadius_generic(ctx, args, 2, mode)
}
