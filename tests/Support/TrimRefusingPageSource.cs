using System;
using System.Runtime.Versioning;
using NativeZcopy.Native;

namespace NativeZcopy.Tests.Support;

/// <summary>
/// The real Unix page source, except that munmap calls <see cref="Refuse"/> picks fail with ENOMEM without
/// reaching the OS: the kernel's answer when a process at <c>vm.max_map_count</c> asks for a mapping to be
/// split, which is hard to reach in a test process without the runtime aborting first.
/// </summary>
[UnsupportedOSPlatform("windows")]
internal sealed class TrimRefusingPageSource : UnixPageSource
{
    /// <summary>ENOMEM's value on Linux.</summary>
    public const int InjectedError = 12;

    /// <summary>Picks the unmaps to refuse, by address and length; null refuses none.</summary>
    public Func<nint, nuint, bool>? Refuse { get; set; }

    /// <summary>Unmaps refused so far.</summary>
    public int Refused { get; private set; }

    internal override bool TryRelease(nint address, nuint length, out int error)
    {
        if (Refuse?.Invoke(address, length) == true)
        {
            Refused++;
            error = InjectedError;
            return false;
        }

        return base.TryRelease(address, length, out error);
    }
}
