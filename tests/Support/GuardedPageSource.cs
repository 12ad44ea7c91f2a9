using NativeZcopy.Native;

namespace NativeZcopy.Tests.Support;

/// <summary>
/// A page source that maps each run with one OS page on either side that it keeps mapped and never
/// registers: the bytes just before and just past a run from it are then certain to lie in no live run,
/// whatever other tests map at the same time.
/// </summary>
internal sealed class GuardedPageSource : PageSource
{
    public override int PageSize => Os.PageSize;

    public override nint TryMap(nuint length, out int error)
    {
        nint address = Os.TryMap(length + (2 * (nuint)PageSize), out error);
        return address == 0 ? 0 : address + PageSize;
    }

    public override bool TryUnmap(nint address, nuint length, out int error) =>
        Os.TryUnmap(address - PageSize, length + (2 * (nuint)PageSize), out error);

    public override string DescribeError(int error) => Os.DescribeError(error);
}
