// vnet.cc: the offload half of tun.node. A TUN/TAP opened with IFF_VNET_HDR carries a 10-byte struct
// virtio_net_hdr (host byte order) before every packet; TUNSETOFFLOAD tells the kernel what the reader accepts:
// with TUN_F_CSUM it may hand over packets whose L4 checksum is only the pseudo-header sum (CHECKSUM_PARTIAL,
// flag NEEDS_CSUM), with TUN_F_TSO4 / TUN_F_USO4|USO6 whole GSO "super-packets" of up to 64 KiB that one TCP or
// UDP send produced, to be cut into gso_size segments later (wireguard-go tun/offload_linux.go does the same for
// its TUN). Writes with a GSO header are segmented by the kernel (or not at all, when the next device accepts
// GSO: a veth, a bridge, the local TCP stack).
//
// The engine's packets are slab slots of ~2 KiB, so a super-packet does not travel through the pipeline:
// readBurstVnet puts its head in the slot and the rest in a "jumbo" buffer, and turns the head into a *probe*,
// a real first segment (IP total length, IP checksum, UDP length and a full L4 checksum fixed), which the
// pipeline processes like any packet (spoofguard, classify, SNAT, conntrack, neighbour, Ethernet). The port that
// sends the probe gets (from tun/offload.ts) where the rest of the payload is, and writeBurstVnet writes the
// whole super-packet with the probe's rewritten headers: one system call for up to 44 segments each way.
//
//   setOffload(fd, flags) -> 0 | -errno                                             TUNSETOFFLOAD
//   setVnetHdrSize(fd, size) -> 0 | -errno                                          TUNSETVNETHDRSZ
//   readBurstVnet(fd, slab, offs, lens, max, cap, info, meta, jumbo, jumboOffs, jumboCap[, hdrSize, tap]) -> n | -errno
//       As readBurst, with readv(vnet header, slot[cap], jumbo[jumboOffs[i], jumboCap]) for read i. hdrSize is
//       the device's vnet header size (10, or 24 after TUNSETVNETHDRSZ 24 for UDP-tunnel GSO); tap (0/1) says
//       frames start with an Ethernet header. Plain packets whose checksum is partial get it completed here.
//       Output k: lens[k] (the probe's length for a super-packet) and meta[8k .. 8k+7] = [gsoType (0: plain;
//       the inner type, with GSO_TUNNEL_V4 added for a Geneve super-packet), gsoSize, hlen (IPv4 + L4 header
//       bytes of the segmented packet), total (its IP length, the whole super-packet), inSlot (bytes in the
//       slot from that IPv4 header on), inJumbo, read index i (its jumbo area), l3 (offset of that IPv4 header
//       in the frame: 0 on a TUN, 14 on a TAP, past Ethernet/IPv4/UDP/Geneve/Ethernet for a tunnel super-packet)].
//       info[0] = packets dropped because they filled the buffers, info[3] = packets dropped for a vnet
//       header or layout this code does not take (counted, never forwarded half).
//   writeBurstVnet(fd, slab, offs, lens, n, info, meta, jumbo[, hdrSize]) -> written
//       meta[8i .. 8i+7] = [gsoType (0: plain, room for the vnet header before off; -1: plain, no room), gsoSize,
//       l3 (offset of the segments' IPv4 header in the frame), hlen, payload offset in the slab, its length,
//       tail offset in jumbo, its length]. A super-packet whose IPv4 header starts the frame (TUN) or follows a
//       plain Ethernet header (TAP) is written as one GSO write. One inside Geneve (Ethernet / IPv4 / UDP /
//       Geneve / Ethernet / IPv4) is written as one UDP-tunnel GSO write when hdrSize is 24 (the device took
//       TUN_F_UDP_TUNNEL_GSO, Linux 6.17+: the kernel cuts it, outer headers included) and the outer packet fits
//       64 KiB; otherwise it is segmented here, like tcp_gso_segment, and written segment by segment.
//       info = [failed, lastErrno, bytes, segments written by the software path, tunnel super-packets written
//       whole (when info has 5 entries)].
//
// The 24-byte header is struct virtio_net_hdr_v1_hash_tunnel (include/uapi/linux/virtio_net.h): the 10 bytes
// above, num_buffers (2), hash value (4), hash report (2), padding (2), then outer_th_offset (offset of the
// outer UDP header) and inner_nh_offset (offset of the inner IPv4 header), both little-endian. For a tunnel
// super-packet the kernel wants NEEDS_CSUM with csum_start at the inner L4 header, and gso_type = inner type |
// VIRTIO_NET_HDR_GSO_UDP_TUNNEL_IPV4 (0x20); without VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM the outer UDP checksum is 0
// in every segment (the engine's Geneve sends none).
//
// Checksums: RFC 1071 sums over native-endian 16-bit words folded and byte-swapped at the end (RFC 1071 §2(B)).

#include "vnet.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

namespace {

struct VnetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
static_assert(sizeof(VnetHdr) == 10, "struct virtio_net_hdr is 10 bytes");

constexpr uint8_t F_NEEDS_CSUM = 1;
constexpr uint8_t GSO_NONE = 0;
constexpr uint8_t GSO_TCPV4 = 1;
constexpr uint8_t GSO_UDP_L4 = 5;
constexpr uint8_t GSO_ECN = 0x80;
constexpr uint8_t GSO_TUNNEL_V4 = 0x20;  // VIRTIO_NET_HDR_GSO_UDP_TUNNEL_IPV4
constexpr uint8_t GSO_TUNNEL_V6 = 0x40;  // VIRTIO_NET_HDR_GSO_UDP_TUNNEL_IPV6
constexpr int META = 8;
constexpr size_t HDR_TUNNEL = 24;      // sizeof(struct virtio_net_hdr_v1_hash_tunnel)
constexpr size_t OUTER_TH_AT = 20;     // its outer_th_offset
constexpr size_t INNER_NH_AT = 22;     // its inner_nh_offset
constexpr uint16_t GENEVE_PORT = 6081;

// ---- checksums ---------------------------------------------------------------------------------------------

// Adds bytes to a running one's-complement sum of big-endian 16-bit words; `odd` says whether an odd number of
// bytes came before (then p[0] is the low byte of a word). Returns the new parity.
bool SumBytes(const uint8_t* p, size_t n, uint64_t* acc, bool odd) {
  uint64_t s = *acc;
  if (odd && n > 0) {
    s += p[0];
    p++;
    n--;
    odd = false;
  }
  while (n >= 8) {
    uint32_t a, b;
    memcpy(&a, p, 4);
    memcpy(&b, p + 4, 4);
    // Native-endian words summed, swapped at the end: accumulate swapped here to keep big-endian order.
    s += __builtin_bswap32(a);
    s += __builtin_bswap32(b);
    p += 8;
    n -= 8;
  }
  while (n >= 2) {
    s += static_cast<uint32_t>(p[0]) << 8 | p[1];
    p += 2;
    n -= 2;
  }
  if (n == 1) {
    s += static_cast<uint32_t>(p[0]) << 8;
    odd = true;
  }
  *acc = s;
  return odd;
}

uint16_t Fold(uint64_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

inline uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline uint32_t Get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 | p[3];
}
inline void Put32(uint8_t* p, uint32_t v) {
  Put16(p, static_cast<uint16_t>(v >> 16));
  Put16(p + 2, static_cast<uint16_t>(v));
}

void IpChecksum(uint8_t* ip) {
  int ihl = (ip[0] & 0x0f) * 4;
  ip[10] = ip[11] = 0;
  uint64_t s = 0;
  SumBytes(ip, static_cast<size_t>(ihl), &s, false);
  Put16(ip + 10, static_cast<uint16_t>(~Fold(s)));
}

// Pseudo-header sum (RFC 793 / 768) of an IPv4 header for an L4 length.
uint64_t Pseudo(const uint8_t* ip, uint32_t l4len) {
  uint64_t s = 0;
  SumBytes(ip + 12, 8, &s, false);
  s += ip[9];
  s += l4len;
  return s;
}

// ---- argument helpers (the same conventions as tun.cc) -----------------------------------------------------

bool Arr(napi_env env, napi_value v, napi_typedarray_type want, void** data, size_t* len, const char* what) {
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, v, &type, len, data, nullptr, nullptr) == napi_ok && type == want) return true;
  char msg[128];
  snprintf(msg, sizeof msg, "tun.node: %s has the wrong type", what);
  napi_throw_type_error(env, nullptr, msg);
  return false;
}

bool Buf(napi_env env, napi_value v, uint8_t** data, size_t* len, const char* what) {
  void* p = nullptr;
  if (napi_get_arraybuffer_info(env, v, &p, len) == napi_ok) {
    *data = static_cast<uint8_t*>(p);
    return true;
  }
  char msg[128];
  snprintf(msg, sizeof msg, "tun.node: %s must be an ArrayBuffer", what);
  napi_throw_type_error(env, nullptr, msg);
  return false;
}

napi_value Int(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

// ---- reading -------------------------------------------------------------------------------------------------

// Completes a partial L4 checksum in place (the field holds the pseudo-header sum): false when the header's
// offsets do not fit the packet.
bool CompleteChecksum(uint8_t* pkt, size_t n, const VnetHdr& h) {
  size_t start = h.csum_start, field = start + h.csum_offset;
  if (start >= n || field + 2 > n) return false;
  uint64_t s = 0;
  SumBytes(pkt + start, n - start, &s, false);
  uint16_t c = static_cast<uint16_t>(~Fold(s));
  if (c == 0 && h.csum_offset == 6) c = 0xffff;  // UDP: 0 means "no checksum"
  Put16(pkt + field, c);
  return true;
}

// Turns the head of a super-packet (IPv4 at pkt) into its first segment; returns the probe's length or 0 when
// the layout is not one this code handles. hlen: IPv4 + L4 header bytes.
size_t MakeProbe(uint8_t* pkt, size_t inSlot, size_t total, const VnetHdr& h, size_t* hlenOut) {
  if (inSlot < 20 || (pkt[0] >> 4) != 4) return 0;
  size_t ihl = (pkt[0] & 0x0f) * 4u;
  if (ihl < 20 || ihl + 8 > inSlot) return 0;
  uint8_t proto = pkt[9];
  uint8_t type = h.gso_type & static_cast<uint8_t>(~(GSO_ECN | GSO_TUNNEL_V4 | GSO_TUNNEL_V6));
  size_t l4h;
  if (type == GSO_TCPV4 && proto == 6) {
    if (ihl + 20 > inSlot) return 0;
    l4h = (pkt[ihl + 12] >> 4) * 4u;
    if (l4h < 20) return 0;
  } else if (type == GSO_UDP_L4 && proto == 17) {
    l4h = 8;
  } else {
    return 0;
  }
  size_t hlen = ihl + l4h;
  size_t mss = h.gso_size;
  if (mss == 0 || hlen >= total) return 0;
  size_t seg = total - hlen < mss ? total - hlen : mss;
  if (hlen + seg > inSlot) return 0;
  Put16(pkt + 2, static_cast<uint16_t>(hlen + seg));
  IpChecksum(pkt);
  uint8_t* l4 = pkt + ihl;
  size_t field = proto == 6 ? 16 : 6;
  if (proto == 17) Put16(l4 + 4, static_cast<uint16_t>(8 + seg));
  l4[field] = l4[field + 1] = 0;
  uint64_t s = Pseudo(pkt, static_cast<uint32_t>(l4h + seg));
  SumBytes(l4, l4h + seg, &s, false);
  uint16_t c = static_cast<uint16_t>(~Fold(s));
  if (c == 0 && proto == 17) c = 0xffff;
  Put16(l4 + field, c);
  *hlenOut = hlen;
  return hlen + seg;
}

// Where the segmented IPv4 packet starts in a frame: 0 on a TUN, 14 after an IPv4 Ethernet header on a TAP, and
// for a tunnel super-packet past Ethernet / IPv4 / UDP (port 6081) / Geneve / Ethernet (IPv4 inside). *outer is
// set to the outer IPv4 header's offset (0: none). Returns -1 for a layout this code does not take.
long InnerL3(const uint8_t* f, size_t inSlot, bool tap, bool tunnel, size_t* outer) {
  *outer = 0;
  if (!tap) return tunnel ? -1 : 0;
  if (inSlot < 14 + 20 || Get16(f + 12) != 0x0800) return -1;
  if (!tunnel) return 14;
  const uint8_t* oip = f + 14;
  size_t oihl = (oip[0] & 0x0f) * 4u;
  if ((oip[0] >> 4) != 4 || oihl < 20 || oip[9] != 17 || 14 + oihl + 8 + 8 > inSlot) return -1;
  const uint8_t* udp = oip + oihl;
  if (Get16(udp + 2) != GENEVE_PORT) return -1;
  const uint8_t* gnv = udp + 8;
  size_t glen = 8 + (gnv[0] & 0x3f) * 4u;
  if ((gnv[0] >> 6) != 0 || Get16(gnv + 2) != 0x6558) return -1;
  size_t l3 = 14 + oihl + 8 + glen + 14;
  if (l3 + 20 > inSlot || Get16(f + l3 - 2) != 0x0800) return -1;
  *outer = 14;
  return static_cast<long>(l3);
}

// After the inner packet of a tunnel probe was cut to its first segment: the outer IPv4 length and checksum and
// the UDP length for a frame of `len` bytes; the UDP checksum 0 (the segments of a tunnel super-packet without
// VIRTIO_NET_HDR_F_UDP_TUNNEL_CSUM carry none).
void FixOuter(uint8_t* f, size_t outer, size_t len) {
  uint8_t* oip = f + outer;
  size_t oihl = (oip[0] & 0x0f) * 4u;
  Put16(oip + 2, static_cast<uint16_t>(len - outer));
  IpChecksum(oip);
  Put16(oip + oihl + 4, static_cast<uint16_t>(len - outer - oihl));
  Put16(oip + oihl + 6, 0);
}

bool OptSize(napi_env env, napi_value* argv, size_t argc, size_t i, size_t* out, const char* what) {
  *out = sizeof(VnetHdr);
  if (argc <= i) return true;
  int32_t v = 0;
  if (napi_get_value_int32(env, argv[i], &v) != napi_ok || (v != 10 && v != static_cast<int32_t>(HDR_TUNNEL))) {
    char msg[128];
    snprintf(msg, sizeof msg, "tun.node: %s: hdrSize must be 10 or 24", what);
    napi_throw_type_error(env, nullptr, msg);
    return false;
  }
  *out = static_cast<size_t>(v);
  return true;
}

}  // namespace

napi_value SetVnetHdrSize(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  int32_t fd = -1, size = 0;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int32(env, argv[1], &size) != napi_ok) {
    napi_throw_type_error(env, nullptr, "tun.node: setVnetHdrSize(fd, size)");
    return nullptr;
  }
  int sz = size;
  return Int(env, ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0 ? -errno : 0);
}

napi_value SetOffload(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  int32_t fd = -1, flags = 0;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int32(env, argv[1], &flags) != napi_ok) {
    napi_throw_type_error(env, nullptr, "tun.node: setOffload(fd, flags)");
    return nullptr;
  }
  return Int(env, ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned long>(flags)) < 0 ? -errno : 0);
}

napi_value ReadBurstVnet(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 13;
  napi_value argv[13];
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  if (argc < 11) {
    napi_throw_type_error(env, nullptr,
                          "tun.node: readBurstVnet(fd, slab, offs, lens, max, cap, info, meta, jumbo, jumboOffs, jumboCap)");
    return nullptr;
  }
  int32_t fd = -1, max = 0, cap = 0, jumboCap = 0;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[4], &max) != napi_ok ||
      napi_get_value_int32(env, argv[5], &cap) != napi_ok || napi_get_value_int32(env, argv[10], &jumboCap) != napi_ok) {
    napi_throw_type_error(env, nullptr, "tun.node: readBurstVnet: fd, max, cap and jumboCap must be numbers");
    return nullptr;
  }
  uint8_t *slab, *jumbo;
  size_t slabLen, jumboLen, offsLen, lensLen, infoLen, metaLen, joLen;
  void *offsP, *lensP, *infoP, *metaP, *joP;
  if (!Buf(env, argv[1], &slab, &slabLen, "slab") ||
      !Arr(env, argv[2], napi_int32_array, &offsP, &offsLen, "offs") ||
      !Arr(env, argv[3], napi_int32_array, &lensP, &lensLen, "lens") ||
      !Arr(env, argv[6], napi_float64_array, &infoP, &infoLen, "info") ||
      !Arr(env, argv[7], napi_int32_array, &metaP, &metaLen, "meta") || !Buf(env, argv[8], &jumbo, &jumboLen, "jumbo") ||
      !Arr(env, argv[9], napi_int32_array, &joP, &joLen, "jumboOffs"))
    return nullptr;
  int32_t* offs = static_cast<int32_t*>(offsP);
  int32_t* lens = static_cast<int32_t*>(lensP);
  double* info = static_cast<double*>(infoP);
  int32_t* meta = static_cast<int32_t*>(metaP);
  int32_t* jo = static_cast<int32_t*>(joP);
  size_t hs;
  if (!OptSize(env, argv, argc, 11, &hs, "readBurstVnet")) return nullptr;
  bool tap = false;
  if (argc > 12) napi_get_value_bool(env, argv[12], &tap);
  if (max < 0 || static_cast<size_t>(max) > offsLen || static_cast<size_t>(max) > lensLen ||
      static_cast<size_t>(max) > joLen || static_cast<size_t>(max) * META > metaLen || cap <= 0 || jumboCap < 0 ||
      infoLen < 4) {
    napi_throw_range_error(env, nullptr, "tun.node: readBurstVnet: sizes do not fit");
    return nullptr;
  }
  for (int32_t i = 0; i < max; i++) {
    if (offs[i] < 0 || static_cast<size_t>(offs[i]) + static_cast<size_t>(cap) > slabLen || jo[i] < 0 ||
        static_cast<size_t>(jo[i]) + static_cast<size_t>(jumboCap) > jumboLen) {
      napi_throw_range_error(env, nullptr, "tun.node: readBurstVnet: a buffer is outside its ArrayBuffer");
      return nullptr;
    }
  }
  int32_t n = 0, truncated = 0, bad = 0, attempts = 0, result = 0;
  while (n < max && attempts < max) {
    uint8_t hb[HDR_TUNNEL];
    VnetHdr h;
    uint8_t* pkt = slab + offs[n];
    struct iovec iov[3] = {{hb, hs}, {pkt, static_cast<size_t>(cap)}, {jumbo + jo[n], static_cast<size_t>(jumboCap)}};
    ssize_t r = readv(fd, iov, jumboCap > 0 ? 3 : 2);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK && n == 0) result = -errno;
      break;
    }
    attempts++;
    if (r <= static_cast<ssize_t>(hs)) continue;
    memcpy(&h, hb, sizeof h);
    size_t total = static_cast<size_t>(r) - hs;
    if (total >= static_cast<size_t>(cap) + static_cast<size_t>(jumboCap)) {  // filled every buffer: maybe cut
      truncated++;
      continue;
    }
    size_t inSlot = total < static_cast<size_t>(cap) ? total : static_cast<size_t>(cap);
    int32_t* m = meta + static_cast<size_t>(n) * META;
    if (h.gso_type == GSO_NONE) {
      if (total >= static_cast<size_t>(cap) || ((h.flags & F_NEEDS_CSUM) && !CompleteChecksum(pkt, total, h))) {
        bad++;
        continue;
      }
      lens[n] = static_cast<int32_t>(total);
      m[0] = 0;
      n++;
      continue;
    }
    // A tunnel super-packet only comes with the 24-byte header (its offsets are there); IPv6 outside is not taken.
    bool tunnel = (h.gso_type & (GSO_TUNNEL_V4 | GSO_TUNNEL_V6)) != 0;
    if (tunnel && ((h.gso_type & GSO_TUNNEL_V6) || hs < HDR_TUNNEL)) {
      bad++;
      continue;
    }
    size_t outer = 0;
    long at = InnerL3(pkt, inSlot, tap, tunnel, &outer);
    if (at < 0) {
      bad++;
      continue;
    }
    size_t l3 = static_cast<size_t>(at);
    size_t hlen = 0;
    size_t probe = MakeProbe(pkt + l3, inSlot - l3, total - l3, h, &hlen);
    if (probe == 0) {
      bad++;
      continue;
    }
    if (outer != 0) FixOuter(pkt, outer, l3 + probe);
    lens[n] = static_cast<int32_t>(l3 + probe);
    m[0] = h.gso_type & static_cast<uint8_t>(~GSO_TUNNEL_V6);
    m[1] = h.gso_size;
    m[2] = static_cast<int32_t>(hlen);
    m[3] = static_cast<int32_t>(total - l3);
    m[4] = static_cast<int32_t>(inSlot - l3);
    m[5] = static_cast<int32_t>(total - inSlot);
    m[6] = n;  // this read's jumbo area: jumboOffs[n] (reads fill outputs in order; a dropped read reuses it)
    m[7] = static_cast<int32_t>(l3);
    n++;
  }
  info[0] = truncated;
  info[3] = bad;
  if (n > 0) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    info[1] = static_cast<double>(ts.tv_sec);
    info[2] = static_cast<double>(ts.tv_nsec);
  }
  return Int(env, result < 0 ? result : n);
}

// ---- writing -------------------------------------------------------------------------------------------------

namespace {

// The payload of a super-packet: a piece in the slot and a piece in the jumbo buffer.
struct Payload {
  const uint8_t* a;
  size_t alen;
  const uint8_t* b;
  size_t blen;
};

// iovecs for payload bytes [from, from+len); returns how many were used (at most 2).
int PayloadIov(const Payload& p, size_t from, size_t len, struct iovec* iov) {
  int k = 0;
  if (from < p.alen) {
    size_t take = p.alen - from < len ? p.alen - from : len;
    iov[k++] = {const_cast<uint8_t*>(p.a + from), take};
    len -= take;
    from = p.alen;
  }
  if (len > 0) iov[k++] = {const_cast<uint8_t*>(p.b + (from - p.alen)), len};
  return k;
}

// The struct virtio_net_hdr_v1_hash_tunnel of a UDP-tunnel GSO write: type is the inner GSO type (ECN bit kept),
// l3 the inner IPv4 header's offset, hlen its IPv4 + L4 header bytes, ihl its IPv4 header bytes, field the L4
// checksum's offset in the L4 header, outerTh the outer UDP header's offset. The classic fields in host order
// (as the 10-byte header), the tunnel offsets little-endian (the kernel reads them with le16_to_cpu).
void EncodeTunnelHdr(uint8_t* out, uint8_t type, size_t l3, size_t hlen, size_t ihl, uint16_t mss, size_t field,
                     size_t outerTh) {
  memset(out, 0, HDR_TUNNEL);
  VnetHdr h;
  h.flags = F_NEEDS_CSUM;
  h.gso_type = static_cast<uint8_t>((type & static_cast<uint8_t>(~GSO_TUNNEL_V6)) | GSO_TUNNEL_V4);
  h.hdr_len = static_cast<uint16_t>(l3 + hlen);
  h.gso_size = mss;
  h.csum_start = static_cast<uint16_t>(l3 + ihl);
  h.csum_offset = static_cast<uint16_t>(field);
  memcpy(out, &h, sizeof h);
  out[OUTER_TH_AT] = static_cast<uint8_t>(outerTh);
  out[OUTER_TH_AT + 1] = static_cast<uint8_t>(outerTh >> 8);
  out[INNER_NH_AT] = static_cast<uint8_t>(l3);
  out[INNER_NH_AT + 1] = static_cast<uint8_t>(l3 >> 8);
}

ssize_t WriteV(int fd, struct iovec* iov, int cnt) {
  for (;;) {
    ssize_t r = writev(fd, iov, cnt);
    if (r < 0 && errno == EINTR) continue;
    return r;
  }
}

// Software GSO (tcp_gso_segment / __udp_gso_segment): the super-packet whose headers are hdr[0 .. l3+hlen) and
// payload `pay` (P bytes), cut into gso_size segments, each written with a plain vnet header. Returns segments
// written, or -errno of the first failure.
int32_t Segment(int fd, const uint8_t* hdr, size_t l3, size_t hlen, size_t mss, const Payload& pay, double* bytes,
                size_t hs) {
  uint8_t buf[512];
  size_t hl = l3 + hlen;
  if (hl > sizeof buf || mss == 0) return -EINVAL;
  const uint8_t* ip0 = hdr + l3;
  size_t ihl = (ip0[0] & 0x0f) * 4u;
  uint8_t proto = ip0[9];
  size_t P = pay.alen + pay.blen;
  size_t nseg = (P + mss - 1) / mss;
  uint16_t id0 = Get16(ip0 + 4);
  uint32_t seq0 = proto == 6 ? Get32(ip0 + ihl + 4) : 0;
  uint8_t flags0 = proto == 6 ? ip0[ihl + 13] : 0;
  // An outer IPv4 (+ UDP) before the inner header: a Geneve frame (Ethernet / IPv4 / UDP / Geneve / Ethernet).
  bool outer = l3 >= 14 + 20 + 8 && Get16(hdr + 12) == 0x0800 && (hdr[14] >> 4) == 4;
  size_t oihl = outer ? (hdr[14] & 0x0f) * 4u : 0;
  uint8_t zero[HDR_TUNNEL];
  memset(zero, 0, sizeof zero);
  int32_t written = 0;
  for (size_t k = 0; k < nseg; k++) {
    size_t segLen = P - k * mss < mss ? P - k * mss : mss;
    memcpy(buf, hdr, hl);
    uint8_t* ip = buf + l3;
    uint8_t* l4 = ip + ihl;
    Put16(ip + 2, static_cast<uint16_t>(hlen + segLen));
    Put16(ip + 4, static_cast<uint16_t>(id0 + k));
    IpChecksum(ip);
    size_t field;
    if (proto == 6) {
      Put32(l4 + 4, seq0 + static_cast<uint32_t>(k * mss));
      uint8_t f = flags0;
      if (k + 1 < nseg) f &= static_cast<uint8_t>(~0x09);  // FIN, PSH only on the last segment
      if (k > 0) f &= static_cast<uint8_t>(~0x80);          // CWR only on the first
      l4[13] = f;
      field = 16;
    } else {
      Put16(l4 + 4, static_cast<uint16_t>(8 + segLen));
      field = 6;
    }
    struct iovec iov[4];
    iov[0] = {zero, hs};
    iov[1] = {buf, hl};
    int pc = PayloadIov(pay, k * mss, segLen, iov + 2);
    l4[field] = l4[field + 1] = 0;
    size_t l4h = hlen - ihl;
    uint64_t s = Pseudo(ip, static_cast<uint32_t>(l4h + segLen));
    bool odd = SumBytes(l4, l4h, &s, false);
    for (int j = 0; j < pc; j++) odd = SumBytes(static_cast<uint8_t*>(iov[2 + j].iov_base), iov[2 + j].iov_len, &s, odd);
    uint16_t c = static_cast<uint16_t>(~Fold(s));
    if (c == 0 && proto == 17) c = 0xffff;
    Put16(l4 + field, c);
    if (outer) {
      uint8_t* oip = buf + 14;
      size_t otot = hl - 14 + segLen;
      Put16(oip + 2, static_cast<uint16_t>(otot));
      IpChecksum(oip);
      if (oip[9] == 17) {
        Put16(oip + oihl + 4, static_cast<uint16_t>(otot - oihl));
        Put16(oip + oihl + 6, 0);  // IPv4 UDP may omit its checksum (the engine's Geneve does)
      }
    }
    ssize_t r = WriteV(fd, iov, 2 + pc);
    if (r < 0) return written > 0 ? written : -errno;
    *bytes += static_cast<double>(r) - static_cast<double>(hs);
    written++;
  }
  return written;
}

}  // namespace

napi_value WriteBurstVnet(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 9;
  napi_value argv[9];
  napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr);
  if (argc < 8) {
    napi_throw_type_error(env, nullptr, "tun.node: writeBurstVnet(fd, slab, offs, lens, n, info, meta, jumbo[, hdrSize])");
    return nullptr;
  }
  int32_t fd = -1, count = 0;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int32(env, argv[4], &count) != napi_ok) {
    napi_throw_type_error(env, nullptr, "tun.node: writeBurstVnet: fd and n must be numbers");
    return nullptr;
  }
  uint8_t *slab, *jumbo;
  size_t slabLen, jumboLen, offsLen, lensLen, infoLen, metaLen;
  void *offsP, *lensP, *infoP, *metaP;
  if (!Buf(env, argv[1], &slab, &slabLen, "slab") ||
      !Arr(env, argv[2], napi_int32_array, &offsP, &offsLen, "offs") ||
      !Arr(env, argv[3], napi_int32_array, &lensP, &lensLen, "lens") ||
      !Arr(env, argv[5], napi_float64_array, &infoP, &infoLen, "info") ||
      !Arr(env, argv[6], napi_int32_array, &metaP, &metaLen, "meta") || !Buf(env, argv[7], &jumbo, &jumboLen, "jumbo"))
    return nullptr;
  int32_t* offs = static_cast<int32_t*>(offsP);
  int32_t* lens = static_cast<int32_t*>(lensP);
  double* info = static_cast<double*>(infoP);
  int32_t* meta = static_cast<int32_t*>(metaP);
  size_t hs;
  if (!OptSize(env, argv, argc, 8, &hs, "writeBurstVnet")) return nullptr;
  if (count < 0 || static_cast<size_t>(count) > offsLen || static_cast<size_t>(count) > lensLen ||
      static_cast<size_t>(count) * META > metaLen || infoLen < 4) {
    napi_throw_range_error(env, nullptr, "tun.node: writeBurstVnet: n exceeds offs/lens/meta or info too short");
    return nullptr;
  }
  int32_t written = 0, failed = 0, lastErr = 0, soft = 0, tunnels = 0;
  double bytes = 0;
  uint8_t zero[HDR_TUNNEL];
  memset(zero, 0, sizeof zero);
  for (int32_t i = 0; i < count; i++) {
    int32_t off = offs[i], len = lens[i];
    const int32_t* m = meta + static_cast<size_t>(i) * META;
    if (off < 0 || len <= 0 || static_cast<size_t>(off) + static_cast<size_t>(len) > slabLen) {
      failed++;
      lastErr = EFAULT;
      continue;
    }
    uint8_t* frame = slab + off;
    ssize_t r;
    if (m[0] <= 0) {  // plain: a zero vnet header in front (in the headroom when there is room)
      if (m[0] == 0 && off >= static_cast<int32_t>(hs)) {
        memset(frame - hs, 0, hs);
        do r = write(fd, frame - hs, static_cast<size_t>(len) + hs);
        while (r < 0 && errno == EINTR);
      } else {
        struct iovec iov[2] = {{zero, hs}, {frame, static_cast<size_t>(len)}};
        r = WriteV(fd, iov, 2);
      }
      if (r >= 0) {
        written++;
        bytes += static_cast<double>(r) - static_cast<double>(hs);
        continue;
      }
    } else {
      size_t l3 = static_cast<size_t>(m[2]), hlen = static_cast<size_t>(m[3]);
      size_t payOff = static_cast<size_t>(m[4]), payLen = static_cast<size_t>(m[5]);
      size_t tailOff = static_cast<size_t>(m[6]), tailLen = static_cast<size_t>(m[7]);
      if (m[2] < 0 || m[3] < 28 || l3 + hlen > static_cast<size_t>(len) || payOff + payLen > slabLen ||
          tailOff + tailLen > jumboLen || m[4] < 0 || m[5] < 0 || m[6] < 0 || m[7] < 0) {
        failed++;
        lastErr = EINVAL;
        continue;
      }
      Payload pay = {slab + payOff, payLen, jumbo + tailOff, tailLen};
      size_t P = payLen + tailLen;
      uint8_t* ip = frame + l3;
      size_t ihl = (ip[0] & 0x0f) * 4u;
      uint8_t proto = ip[9];
      bool direct = l3 == 0 || (l3 == 14 && Get16(frame + 12) == 0x0800);
      size_t outer = 0;
      bool tunnel = !direct && hs >= HDR_TUNNEL &&
                    InnerL3(frame, static_cast<size_t>(len), true, true, &outer) == static_cast<long>(l3) &&
                    l3 + hlen + P - 14 <= 0xffff;
      if (tunnel) {
        // One UDP-tunnel GSO write: inner and outer headers fixed for the whole super-packet, the inner L4
        // checksum left partial, the outer UDP checksum 0; the kernel cuts both layers (__skb_udp_tunnel_segment).
        Put16(ip + 2, static_cast<uint16_t>(hlen + P));
        IpChecksum(ip);
        uint8_t* l4 = ip + ihl;
        size_t field = proto == 6 ? 16 : 6;
        if (proto == 17) Put16(l4 + 4, static_cast<uint16_t>(8 + P));
        Put16(l4 + field, Fold(Pseudo(ip, static_cast<uint32_t>(hlen - ihl + P))));
        FixOuter(frame, outer, l3 + hlen + P);
        uint8_t th[HDR_TUNNEL];
        size_t oihl = (frame[outer] & 0x0f) * 4u;
        EncodeTunnelHdr(th, static_cast<uint8_t>(m[0]), l3, hlen, ihl, static_cast<uint16_t>(m[1]), field, outer + oihl);
        struct iovec iov[4] = {{th, sizeof th}, {frame, l3 + hlen}};
        int pc = PayloadIov(pay, 0, P, iov + 2);
        r = WriteV(fd, iov, 2 + pc);
        if (r >= 0) {
          written++;
          tunnels++;
          bytes += static_cast<double>(r) - sizeof th;
          continue;
        }
      } else if (direct) {
        // One GSO write: headers fixed for the whole super-packet, the L4 checksum left partial.
        Put16(ip + 2, static_cast<uint16_t>(hlen + P));
        IpChecksum(ip);
        uint8_t* l4 = ip + ihl;
        size_t field = proto == 6 ? 16 : 6;
        if (proto == 17) Put16(l4 + 4, static_cast<uint16_t>(8 + P));
        Put16(l4 + field, Fold(Pseudo(ip, static_cast<uint32_t>(hlen - ihl + P))));
        uint8_t hb[HDR_TUNNEL];
        memset(hb, 0, sizeof hb);
        VnetHdr h;
        h.flags = F_NEEDS_CSUM;
        h.gso_type = static_cast<uint8_t>(m[0]);
        h.hdr_len = static_cast<uint16_t>(l3 + hlen);
        h.gso_size = static_cast<uint16_t>(m[1]);
        h.csum_start = static_cast<uint16_t>(l3 + ihl);
        h.csum_offset = static_cast<uint16_t>(field);
        memcpy(hb, &h, sizeof h);
        struct iovec iov[4] = {{hb, hs}, {frame, l3 + hlen}};
        int pc = PayloadIov(pay, 0, P, iov + 2);
        r = WriteV(fd, iov, 2 + pc);
        if (r >= 0) {
          written++;
          bytes += static_cast<double>(r) - static_cast<double>(hs);
          continue;
        }
      } else {
        int32_t segs = Segment(fd, frame, l3, hlen, static_cast<size_t>(m[1]), pay, &bytes, hs);
        if (segs > 0) {
          written++;
          soft += segs;
          continue;
        }
        errno = -segs;
        r = -1;
      }
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    failed++;
    lastErr = errno;
    if (errno == EBADF || errno == EBADFD) {
      failed += count - 1 - i;
      break;
    }
  }
  info[0] = failed;
  info[1] = lastErr;
  info[2] = bytes;
  info[3] = soft;
  if (infoLen >= 5) info[4] = tunnels;
  return Int(env, written);
}
