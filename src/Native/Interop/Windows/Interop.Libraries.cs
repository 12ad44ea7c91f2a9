namespace NativeZcopy.Native;

internal static partial class Interop
{
    /// <summary>Names of the Windows libraries the interop declarations bind to.</summary>
    internal static class Libraries
    {
        /// <summary>kernel32.dll: virtual memory.</summary>
        internal const string Kernel32 = "kernel32.dll";
    }
}
