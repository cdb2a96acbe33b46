/**
 * The parts of tun/ that need no root and no device: errno → one-line message mapping (the cases a root test
 * cannot provoke, such as a missing /dev/net/tun), errno names, name validation, and where the addon is found.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { addonPath, errnoName, openError, TunError } from '../../tun/addon.js';
import { checkName, isValidName, NetdevError } from '../../tun/netdev.js';

// errno values of Linux (include/uapi/asm-generic/errno-base.h, errno.h), written out independently of Node's table.
const ENOENT = 2;
const EPERM = 1;
const EACCES = 13;
const EBUSY = 16;
const EEXIST = 17;
const ENODEV = 19;
const EINVAL = 22;
const ENAMETOOLONG = 36;
const ENOMEM = 12;
const EBADFD = 77;

const TUN = { name: 'egr0', tap: false, multiQueue: false, devicePath: '/dev/net/tun' };
const TAP = { ...TUN, tap: true };

describe('openError: errno → one line', () => {
  it('a missing /dev/net/tun (ENOENT, or ENODEV without the module) is ENOTUN', () => {
    for (const errno of [ENOENT, ENODEV]) {
      const e = openError(errno, 'open', TUN);
      expect(e).toBeInstanceOf(TunError);
      expect(e.code).toBe('ENOTUN');
      expect(e.errno).toBe(errno);
      expect(e.message).toBe('no /dev/net/tun: load the tun module or run where TUN devices exist');
    }
  });

  it('EPERM and EACCES are a missing CAP_NET_ADMIN, for TUN and TAP', () => {
    expect(openError(EPERM, 'TUNSETIFF', TUN).message).toBe('opening a TUN device needs CAP_NET_ADMIN (run as root)');
    expect(openError(EACCES, 'open', TUN).code).toBe('EPERM');
    expect(openError(EACCES, 'open', TAP).message).toBe('opening a TAP device needs CAP_NET_ADMIN (run as root)');
  });

  it('EBUSY and EEXIST are a name in use', () => {
    for (const errno of [EBUSY, EEXIST]) {
      const e = openError(errno, 'TUNSETIFF', TUN);
      expect(e.code).toBe('EBUSY');
      expect(e.message).toBe('interface egr0 is already in use');
    }
  });

  it('EINVAL from TUNSETIFF names the kind and queue mode that did not match', () => {
    expect(openError(EINVAL, 'TUNSETIFF', TUN).message).toBe(
      'interface egr0 exists and is not a single-queue TUN device',
    );
    expect(openError(EINVAL, 'TUNSETIFF', { ...TAP, multiQueue: true }).message).toBe(
      'interface egr0 exists and is not a multi-queue TAP device',
    );
    expect(openError(ENAMETOOLONG, 'TUNSETIFF', TUN).code).toBe('EINVAL');
  });

  it('anything else keeps the errno name and the system text, on one line', () => {
    const e = openError(ENOMEM, 'TUNSETIFF', TUN, 'Cannot allocate memory');
    expect(e.code).toBe('ENOMEM');
    expect(e.message).toBe('TUNSETIFF for TUN egr0 failed: Cannot allocate memory (ENOMEM)');
    expect(openError(ENOMEM, 'open', { ...TUN, devicePath: '/x/tun' }).message).toBe('open /x/tun failed: ENOMEM');
    for (const errno of [ENOENT, EPERM, EBUSY, EINVAL, ENOMEM])
      expect(openError(errno, 'TUNSETIFF', TUN).message).not.toMatch(/\n/);
  });
});

describe('errnoName', () => {
  it('names Linux errno values, EBADFD included (Node lacks it)', () => {
    expect(errnoName(ENOENT)).toBe('ENOENT');
    expect(errnoName(EBUSY)).toBe('EBUSY');
    expect(errnoName(-EBUSY)).toBe('EBUSY');
    expect(errnoName(11)).toBe('EAGAIN');
    expect(errnoName(EBADFD)).toBe('EBADFD');
    expect(errnoName(99999)).toBe('E99999');
  });
});

describe('interface and namespace names', () => {
  it('accepts 1-15 characters of A-Za-z0-9_.-', () => {
    for (const n of ['egr0', 'a', 'egr-tun-123456', 'x.y_z-1', '123456789012345']) expect(isValidName(n)).toBe(true);
  });

  it('refuses empty, long, leading dash, dots, spaces, slashes and shell characters', () => {
    for (const n of ['', '1234567890123456', '-n', '.', '..', 'a b', 'a/b', 'a;b', 'a$b', 'eth0\n', 'a:b', 'é'])
      expect(isValidName(n), JSON.stringify(n)).toBe(false);
  });

  it('checkName throws a one-line NetdevError naming what was wrong', () => {
    expect(() => checkName('bad name', 'namespace')).toThrow(NetdevError);
    expect(() => checkName('1234567890123456')).toThrow(
      /^invalid interface name "1234567890123456": use 1-15 characters/,
    );
    expect(checkName('egr0')).toBe('egr0');
  });
});

describe('addonPath', () => {
  it('finds tun/build/Release/tun.node walking up from the source and from dist/tun alike', () => {
    const root = resolve(import.meta.dirname, '../..');
    const built = join(root, 'tun', 'build', 'Release', 'tun.node');
    if (!existsSync(built)) {
      console.warn('tun addon not built: addonPath is only checked for "not found"');
      expect(addonPath('/')).toBeNull();
      return;
    }
    expect(addonPath(join(root, 'tun'))).toBe(built);
    expect(addonPath(join(root, 'dist', 'tun'))).toBe(built);
    expect(addonPath('/')).toBeNull();
  });
});
