using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Security.Cryptography;

namespace NativeZcopy.Tests.Support;

/// <summary>Reads /proc/self/maps: the kernel's own word on what this process has mapped.</summary>
internal static class ProcMaps
{
    /// <summary>True when every byte of [address, address + length) lies in some mapping.</summary>
    public static bool IsMapped(nint address, long length) => IsCovered(ReadMappings(), address, length);

    /// <summary>True when every byte of [address, address + length) lies in one of <paramref name="mappings"/>.</summary>
    public static bool IsCovered(IReadOnlyList<(ulong From, ulong To)> mappings, nint address, long length)
    {
        ulong end = (ulong)address + (ulong)length;
        ulong covered = (ulong)address;
        foreach ((ulong from, ulong to) in mappings)
        {
            if (from <= covered && covered < to)
            {
                covered = to;
                if (covered >= end)
                {
                    return true;
                }
            }
        }

        return false;
    }

    /// <summary>True when no byte of [address, address + length) lies in any mapping.</summary>
    public static bool IsUnmapped(nint address, long length)
    {
        ulong start = (ulong)address;
        ulong end = start + (ulong)length;
        foreach ((ulong from, ulong to) in ReadMappings())
        {
            if (from < end && start < to)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Writes a fresh random 32-byte marker at <paramref name="address"/> (the start of a mapping of ours,
    /// writable) and returns it, so <see cref="IsGone"/> can tell our mapping from a newer one.
    /// </summary>
    public static unsafe byte[] Mark(nint address)
    {
        byte[] marker = RandomNumberGenerator.GetBytes(32);
        marker.CopyTo(new Span<byte>((void*)address, marker.Length));
        return marker;
    }

    /// <summary>
    /// True when our mapping of [address, address + length), marked with <see cref="Mark"/>, is gone: the
    /// kernel lists nothing there, or what it lists at <paramref name="address"/> now is not ours. The
    /// runtime may be given the freed addresses for mappings of its own at any moment (the JIT, the GC), so
    /// "nothing there" alone would make a flaky test; but our mapping was one read/write mapping, unmapped
    /// whole or not at all, so if it were still there it would be readable and hold the marker.
    /// </summary>
    public static unsafe bool IsGone(nint address, long length, byte[] marker)
    {
        if (IsUnmapped(address, length))
        {
            return true;
        }

        foreach (string line in File.ReadLines("/proc/self/maps"))
        {
            int dash = line.IndexOf('-', StringComparison.Ordinal);
            int space = line.IndexOf(' ', StringComparison.Ordinal);
            ulong from = ulong.Parse(line.AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            ulong to = ulong.Parse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (from <= (ulong)address && (ulong)address < to)
            {
                return line[space + 1] != 'r' || !new ReadOnlySpan<byte>((void*)address, marker.Length).SequenceEqual(marker);
            }
        }

        return true; // the first byte is unmapped, so the whole of our mapping is
    }

    /// <summary>Every mapping of the process, as [from, to) in address order.</summary>
    public static List<(ulong From, ulong To)> ReadMappings()
    {
        var mappings = new List<(ulong From, ulong To)>();
        foreach (string line in File.ReadLines("/proc/self/maps"))
        {
            int dash = line.IndexOf('-', StringComparison.Ordinal);
            int space = line.IndexOf(' ', StringComparison.Ordinal);
            mappings.Add((
                ulong.Parse(line.AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                ulong.Parse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
        }

        return mappings;
    }
}
