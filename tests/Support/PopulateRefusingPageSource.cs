using System.Runtime.Versioning;
using NativeZcopy.Native;

namespace NativeZcopy.Tests.Support;

/// <summary>
/// The real Unix page source on a kernel before 5.14, which refuses <c>MADV_POPULATE_WRITE</c> with EINVAL:
/// nothing is populated by the advice, as there.
/// </summary>
[UnsupportedOSPlatform("windows")]
internal sealed class PopulateRefusingPageSource : UnixPageSource
{
    /// <summary>Populates asked for so far.</summary>
    public int Refused { get; private set; }

    internal override bool TryPopulate(nint address, nuint length)
    {
        Refused++;
        return false;
    }
}
