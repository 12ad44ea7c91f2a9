using System;
using System.Globalization;
using System.IO;

namespace NativeZcopy.Tests.Support;

/// <summary>Reads /proc/self/maps: the kernel's own word on what this process has mapped.</summary>
internal static class ProcMaps
{
    /// <summary>True when every byte of [address, address + length) lies in some mapping.</summary>
    public static bool IsMapped(nint address, long length)
    {
        ulong start = (ulong)address;
        ulong end = start + (ulong)length;
        ulong covered = start;
        foreach (string line in File.ReadLines("/proc/self/maps"))
        {
            int dash = line.IndexOf('-', StringComparison.Ordinal);
            int space = line.IndexOf(' ', StringComparison.Ordinal);
            ulong from = ulong.Parse(line.AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            ulong to = ulong.Parse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
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
        foreach (string line in File.ReadLines("/proc/self/maps"))
        {
            int dash = line.IndexOf('-', StringComparison.Ordinal);
            int space = line.IndexOf(' ', StringComparison.Ordinal);
            ulong from = ulong.Parse(line.AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            ulong to = ulong.Parse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (from < end && start < to)
            {
                return false;
            }
        }

        return true;
    }
}
