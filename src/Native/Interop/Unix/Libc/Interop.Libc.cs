namespace NativeZcopy.Native;

internal static partial class Interop
{
    /// <summary>
    /// The C library's socket calls, declared here because Mono.Posix.NETStandard cannot express them: its
    /// <c>sendmsg</c> takes a managed <c>Iovec[]</c> (marshalled per call) and its <c>MessageFlags</c> has
    /// no <c>MSG_ZEROCOPY</c> or <c>MSG_ERRQUEUE</c> reading of <c>sock_extended_err</c>. The layouts and
    /// constants are Linux's (x86-64 and arm64, LP64); only Linux takes these paths.
    /// </summary>
    internal static partial class Libc
    {
        /// <summary>
        /// The C library. The runtime's loader maps the bare name "libc" to the platform's C library
        /// (libc.so.6 on glibc), which a plain "libc.so" would not find: that file is a linker script.
        /// </summary>
        internal const string LibraryName = "libc";
    }
}
