using System.Runtime.InteropServices;
using Xunit;
using static NativeZcopy.Native.Interop.Ws2_32;

namespace NativeZcopy.Tests.Native.Interop.Windows;

public sealed class Ws2_32LayoutTests
{
    [Fact]
    public void WSABUF_has_the_winsock_layout()
    {
        // ws2def.h: ULONG len; CHAR* buf; on 64-bit the pointer is 8-aligned. Checkable on any OS.
        Assert.Equal(16, Marshal.SizeOf<WSABUF>());
        Assert.Equal(0, (int)Marshal.OffsetOf<WSABUF>(nameof(WSABUF.Length)));
        Assert.Equal(8, (int)Marshal.OffsetOf<WSABUF>(nameof(WSABUF.Pointer)));
    }
}
