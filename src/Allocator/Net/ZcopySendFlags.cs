using System;
using System.Diagnostics.CodeAnalysis;

namespace NativeZcopy.Net;

/// <summary>How <see cref="ZcopySocketExtensions.SendZcopyAsync"/> sends a message.</summary>
[Flags]
[SuppressMessage("Naming", "CA1711:Identifiers should not have incorrect suffix", Justification = "The name is the issue's API contract; the type is a [Flags] set, which is what the suffix says.")]
public enum ZcopySendFlags
{
    /// <summary>A copying gather send: the kernel copies the bytes, and the message's refs are dropped as
    /// soon as the send completes.</summary>
    None = 0,

    /// <summary>
    /// Linux <c>MSG_ZEROCOPY</c>: the kernel sends from the pages themselves, and the message's refs are
    /// dropped when the kernel's completion notification says it is done with them. Where the socket does
    /// not support it (a Unix-domain socket, another OS), the send copies instead; see
    /// <see cref="ZcopySocketStatistics.ZeroCopyUnavailable"/>.
    /// </summary>
    ZeroCopy = 1,
}
