namespace NativeZcopy.Native;

internal static partial class Interop
{
    /// <summary>Winsock 2 (ws2_32.dll): the gathering send.</summary>
    internal static partial class Ws2_32
    {
        /// <summary>WSASend's failure return: SOCKET_ERROR in winsock2.h.</summary>
        internal const int SOCKET_ERROR = -1;

        /// <summary>A non-blocking socket cannot take more now: WSAEWOULDBLOCK in winerror.h.</summary>
        internal const int WSAEWOULDBLOCK = 10035;

        /// <summary>Buffers per WSASend call here; Winsock sets no IOV_MAX, this keeps the stack array at 16 KiB.</summary>
        internal const int MaxBuffersPerCall = 1024;
    }
}
