namespace NativeZcopy.Native;

internal static partial class Interop
{
    /// <summary>Names of the native libraries the interop declarations bind to.</summary>
    internal static class Libraries
    {
        /// <summary>kernel32.dll: Windows virtual memory.</summary>
        internal const string Kernel32 = "kernel32.dll";

        /// <summary>ws2_32.dll: Winsock 2, the gathering send on Windows.</summary>
        internal const string Ws2_32 = "ws2_32.dll";

        /// <summary>The C library: .NET's probing resolves "libc" to libc.so.6 on Linux and libc.dylib on macOS.</summary>
        internal const string Libc = "libc";
    }
}
