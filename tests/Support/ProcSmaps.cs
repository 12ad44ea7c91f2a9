using System;
using System.Globalization;
using System.IO;

namespace NativeZcopy.Tests.Support;

/// <summary>Reads one field of the /proc/self/smaps block of the mapping that starts at an address.</summary>
internal static class ProcSmaps
{
    /// <summary>The value of <paramref name="field"/> (e.g. "Rss", "THPeligible") for the mapping holding
    /// <paramref name="address"/>, in the units smaps uses (kB for sizes); null when there is none.</summary>
    public static long? Field(nint address, string field)
    {
        bool inside = false;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            int dash = line.IndexOf('-', StringComparison.Ordinal);
            int space = line.IndexOf(' ', StringComparison.Ordinal);
            if (dash > 0 && space > dash && ulong.TryParse(line.AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong from)
                && ulong.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong to))
            {
                inside = from <= (ulong)address && (ulong)address < to;
                continue;
            }

            if (inside && line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                string value = line[(field.Length + 1)..].Trim();
                int unit = value.IndexOf(' ', StringComparison.Ordinal);
                return long.Parse(unit < 0 ? value : value[..unit], CultureInfo.InvariantCulture);
            }
        }

        return null;
    }
}
