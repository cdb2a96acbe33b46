/*
 * ceiling: the I/O ceiling of the engine's local SNAT path. Reads IP packets from a pod's TUN and writes them as
 * Ethernet frames to a TAP uplink, with the engine's burst loop (wait for readiness, read until EAGAIN or BURST
 * packets, then write each) and no processing at all: every packet gets the same 14-byte Ethernet header
 * (DST_MAC, SRC_MAC, IPv4), read in place behind it. Queue pairs are inherited file descriptors: pair q is
 * TUN fd 3+2q, TAP fd 4+2q; each pair gets its own thread (multi-queue devices: one queue of each per thread).
 *
 *   ceiling PAIRS BURST DST_MAC SRC_MAC
 *
 * Runs until SIGTERM/SIGINT, then prints: packets=N bytes=N write_errors=N utime_us=N stime_us=N
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX_BURST 256
#define SLOT 2048

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static unsigned char header[14];
static int burst;

struct pair {
  int tun, tap;
  long long packets, bytes, werr;
  pthread_t th;
};

static void *run(void *arg) {
  struct pair *p = arg;
  static __thread unsigned char buf[MAX_BURST][SLOT];
  int len[MAX_BURST];
  for (int i = 0; i < MAX_BURST; i++) memcpy(buf[i], header, 14);
  struct pollfd pfd = {.fd = p->tun, .events = POLLIN};
  while (!stop) {
    int r = poll(&pfd, 1, 100);
    if (r <= 0) continue;
    int n = 0;
    while (n < burst) {
      ssize_t k = read(p->tun, buf[n] + 14, SLOT - 14);
      if (k < 0) {
        if (errno == EINTR) continue;
        break;
      }
      len[n++] = (int)k + 14;
    }
    for (int i = 0; i < n; i++) {
      if (write(p->tap, buf[i], (size_t)len[i]) < 0)
        p->werr++;
      else {
        p->packets++;
        p->bytes += len[i] - 14;
      }
    }
  }
  return NULL;
}

static int parse_mac(const char *s, unsigned char *out) {
  unsigned v[6];
  if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return -1;
  for (int i = 0; i < 6; i++) out[i] = (unsigned char)v[i];
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: ceiling PAIRS BURST DST_MAC SRC_MAC (pair q: TUN fd 3+2q, TAP fd 4+2q)\n");
    return 2;
  }
  int pairs = atoi(argv[1]);
  burst = atoi(argv[2]);
  if (pairs < 1 || pairs > 8 || burst < 1 || burst > MAX_BURST || parse_mac(argv[3], header) ||
      parse_mac(argv[4], header + 6)) {
    fprintf(stderr, "ceiling: bad arguments\n");
    return 2;
  }
  header[12] = 0x08;
  header[13] = 0x00;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  struct pair *ps = calloc((size_t)pairs, sizeof *ps);
  for (int q = 0; q < pairs; q++) {
    ps[q].tun = 3 + 2 * q;
    ps[q].tap = 4 + 2 * q;
    pthread_create(&ps[q].th, NULL, run, &ps[q]);
  }
  printf("ready\n");
  fflush(stdout);
  long long packets = 0, bytes = 0, werr = 0;
  for (int q = 0; q < pairs; q++) {
    pthread_join(ps[q].th, NULL);
    packets += ps[q].packets;
    bytes += ps[q].bytes;
    werr += ps[q].werr;
  }
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  printf("packets=%lld bytes=%lld write_errors=%lld utime_us=%lld stime_us=%lld\n", packets, bytes, werr,
         (long long)u.ru_utime.tv_sec * 1000000 + u.ru_utime.tv_usec,
         (long long)u.ru_stime.tv_sec * 1000000 + u.ru_stime.tv_usec);
  return 0;
}
