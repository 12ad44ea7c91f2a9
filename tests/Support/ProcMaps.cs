using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;

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
