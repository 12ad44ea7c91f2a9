using System;
using System.Threading;
using NativeZcopy.Native;

namespace NativeZcopy.Tests.Support;

/// <summary>
/// The real OS page source with faults on demand: the k-th map fails with ENOMEM, unmaps fail while
/// <see cref="FailUnmaps"/> is set, and hooks can run inside a map (outside every lock, as the real call is)
/// and inside the description of a refusal (after the refused run went on its owner's pending list).
/// Counts every call, so tests can check that what was mapped was unmapped.
/// </summary>
internal sealed class FaultInjectingPageSource : PageSource
{
    /// <summary>The error code reported for an injected failure (ENOMEM's value on Linux).</summary>
    public const int InjectedError = 12;

    private long _maps;
    private long _unmaps;
    private long _mapped;
    private long _peakMapped;
    private long _successfulMaps;
    private bool _failUnmaps;

    /// <summary>1-based index of the map call that fails; 0 fails none.</summary>
    public long FailMapNumber { get; set; }

    /// <summary>When set, every map fails.</summary>
    public bool FailAllMaps { get; set; }

    /// <summary>
    /// When set, every map "succeeds" at <see cref="AboveAddressSpace"/>, an address above the side table's
    /// reach, without calling the OS: the side table then refuses to register it (a managed failure after
    /// a successful system call). Unmaps of that address succeed without the OS.
    /// </summary>
    public bool MapAboveAddressSpace { get; set; }

    /// <summary>The address maps return while <see cref="MapAboveAddressSpace"/> is set: 2^56, past any 48-bit space.</summary>
    public const long AboveAddressSpace = 1L << 56;

    /// <summary>When set, every unmap fails (and the pages stay mapped). Volatile: hooks flip it from other threads.</summary>
    public bool FailUnmaps
    {
        get => Volatile.Read(ref _failUnmaps);
        set => Volatile.Write(ref _failUnmaps, value);
    }

    /// <summary>Runs once, inside the next successful map call, then clears itself.</summary>
    public Action? OnNextMap { get; set; }

    /// <summary>Runs once, inside the next description of an error (<see cref="DescribeError"/>), then clears itself.</summary>
    public Action? OnNextDescribeError { get; set; }

    /// <summary>Map calls so far, failed ones included.</summary>
    public long MapCalls => Volatile.Read(ref _maps);

    /// <summary>Successful unmaps so far.</summary>
    public long Unmaps => Volatile.Read(ref _unmaps);

    /// <summary>Bytes currently mapped through this source.</summary>
    public long BytesMapped => Volatile.Read(ref _mapped);

    /// <summary>The most bytes mapped through this source at any one time.</summary>
    public long PeakBytesMapped => Volatile.Read(ref _peakMapped);

    /// <summary>Successful maps so far.</summary>
    public long Maps => Volatile.Read(ref _successfulMaps);

    public override int PageSize => Os.PageSize;

    public override nint TryMap(nuint length, out int error)
    {
        long number = Interlocked.Increment(ref _maps);
        if (FailAllMaps || number == FailMapNumber)
        {
            error = InjectedError;
            return 0;
        }

        if (MapAboveAddressSpace)
        {
            error = 0;
            return unchecked((nint)AboveAddressSpace);
        }

        Action? hook = OnNextMap;
        OnNextMap = null;
        hook?.Invoke();

        nint address = Os.TryMap(length, out error);
        if (address != 0)
        {
            Interlocked.Increment(ref _successfulMaps);
            long now = Interlocked.Add(ref _mapped, (long)length);
            long peak = Volatile.Read(ref _peakMapped);
            while (now > peak)
            {
                long seen = Interlocked.CompareExchange(ref _peakMapped, now, peak);
                if (seen == peak)
                {
                    break;
                }

                peak = seen;
            }
        }

        return address;
    }

    public override bool TryUnmap(nint address, nuint length, out int error)
    {
        if (address == unchecked((nint)AboveAddressSpace))
        {
            error = 0;
            return true;
        }

        if (FailUnmaps)
        {
            error = InjectedError;
            return false;
        }

        bool done = Os.TryUnmap(address, length, out error);
        if (done)
        {
            Interlocked.Increment(ref _unmaps);
            Interlocked.Add(ref _mapped, -(long)length);
        }

        return done;
    }

    public override string DescribeError(int error)
    {
        Action? hook = OnNextDescribeError;
        OnNextDescribeError = null;
        hook?.Invoke();
        return error == InjectedError ? "ENOMEM (injected)" : Os.DescribeError(error);
    }
}
