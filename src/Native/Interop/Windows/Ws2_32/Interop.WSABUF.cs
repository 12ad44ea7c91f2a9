using System.Runtime.InteropServices;

namespace NativeZcopy.Native;

internal static partial class Interop
{
    internal static partial class Ws2_32
    {
        /// <summary><c>WSABUF</c> (ws2def.h): length first, then the pointer; 16 bytes on 64-bit.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct WSABUF
        {
            /// <summary><c>ULONG len</c>.</summary>
            public uint Length;

            /// <summary><c>CHAR *buf</c>.</summary>
            public nint Pointer;
        }
    }
}
