using System;
using System.Collections.Frozen;
using System.Diagnostics;
using System.Linq;
using NativeZcopy.Net;

namespace NativeZcopy.Diagnostics;

/// <summary>What a <see cref="FragmentTracker"/> knows about one fragment it recorded.</summary>
/// <remarks>
/// <see cref="Fragment"/>, <see cref="AllocationStackTrace"/> and <see cref="AllocatedAt"/> are written
/// once, before the record is published under the tracker's lock; <see cref="Refs"/> and
/// <see cref="LeakReported"/> are owned by that lock.
/// </remarks>
internal sealed class FragmentRecord
{
    /// <summary>The stack as captured; formatted only when someone asks (formatting costs far more than the walk).</summary>
    private readonly StackTrace _stack;

    /// <summary>The formatted stack, once asked for. Benign race: two threads may format it both, identically.</summary>
    private string? _formatted;

    /// <summary>Creates the record of a fragment just cut, holding its one reference.</summary>
    public FragmentRecord(BioVec fragment, StackTrace allocationStack, long allocatedAt)
    {
        Fragment = fragment;
        _stack = allocationStack;
        AllocatedAt = allocatedAt;
        Refs = 1;
    }

    /// <summary>The fragment as it was handed out.</summary>
    public BioVec Fragment { get; }

    /// <summary>Where it was allocated, from the allocator's frames on (see <see cref="FromAllocator"/>).</summary>
    public string AllocationStackTrace => _formatted ??= FromAllocator(_stack).ToString();

    /// <summary>
    /// <paramref name="stack"/> without the library's inner frames (the tracker's, an arena's, a slice's): it
    /// starts at the first frame of a public type of the library, the allocator method (or pool, cache) that
    /// cut the piece, or at the caller's frame when the compiler inlined all of those into it. Found by type, not
    /// by a fixed count of frames, because which frames exist depends on inlining: optimized code inlines
    /// some arena methods into the allocator's and the allocator's into the caller's, and a fixed count then
    /// cut the caller's own frames off or left arena frames on top. Frames are read through
    /// <see cref="DiagnosticMethodInfo"/>, which NativeAOT fills from its stack-trace metadata: there
    /// <see cref="StackFrame.GetMethod"/> returns null for every method without reflection metadata (all of the
    /// library's), and a check through it kept the tracker's and the arena's frames on top of every stack.
    /// Where a frame's method is unknown (a NativeAOT app built with <c>StackTraceSupport=false</c>) the stack
    /// is kept whole from that frame on, the library's frames included, so no frame of the caller's is ever dropped.
    /// </summary>
    internal static StackTrace FromAllocator(StackTrace stack)
    {
        StackFrame[] frames = stack.GetFrames();
        for (int i = 0; i < frames.Length; i++)
        {
            if (!IsInnerFrame(frames[i]))
            {
                return i == 0 ? stack : new StackTrace(frames[i..]);
            }
        }

        return stack;
    }

    /// <summary>The library's simple assembly name, against which frames' assemblies are compared.</summary>
    private static readonly string s_library = typeof(FragmentRecord).Assembly.GetName().Name!;

    /// <summary>
    /// The full names of the library's public types: a frame of any other type of the library is an inner
    /// frame. Listed rather than read from the assembly, since <c>Assembly.GetExportedTypes</c> is not
    /// trim-safe and NativeAOT keeps no visibility for the types in a stack frame; a test checks the list
    /// against the assembly's exported types.
    /// </summary>
    internal static readonly FrozenSet<string> PublicTypeNames = new[]
    {
        typeof(BioVec), typeof(FragmentLeakedEventArgs), typeof(NativePages), typeof(OutstandingFragment),
        typeof(ZcopyAllocator), typeof(ZcopyAllocatorOptions), typeof(ZcopyLocalCache), typeof(ZcopyMemoryOwner),
        typeof(ZcopyMemoryPool), typeof(ZcopyMetrics), typeof(ZcopyStatistics), typeof(ZcopyMessage),
        typeof(ZcopySendFlags), typeof(ZcopySocketExtensions), typeof(ZcopySocketStatistics),
    }.Select(type => type.FullName!).ToFrozenSet(StringComparer.Ordinal);

    /// <summary>True for a frame of one of the library's non-public types (nested types included, as
    /// compiler-generated closures are); false for any other frame, and for one whose method is unknown.</summary>
    private static bool IsInnerFrame(StackFrame frame)
    {
        DiagnosticMethodInfo? method = DiagnosticMethodInfo.Create(frame);
        return method is { DeclaringAssemblyName: string assembly, DeclaringTypeName: string type }
            && IsLibrary(assembly)
            && !PublicTypeNames.Contains(type);
    }

    /// <summary>True when <paramref name="assemblyName"/> (a display name, or a simple name) is the library's.</summary>
    private static bool IsLibrary(string assemblyName) =>
        assemblyName.StartsWith(s_library, StringComparison.Ordinal)
        && (assemblyName.Length == s_library.Length || assemblyName[s_library.Length] == ',');

    /// <summary>When it was allocated, in <see cref="System.Diagnostics.Stopwatch"/> ticks.</summary>
    public long AllocatedAt { get; }

    /// <summary>References its holders still have: one from the allocation plus one per extra Get.</summary>
    public int Refs { get; set; }

    /// <summary>True once the fragment was reported as leaked, so it is reported once.</summary>
    public bool LeakReported { get; set; }

    /// <summary>True when <paramref name="offset"/> (from the folio base) lies in the fragment.</summary>
    public bool Covers(int offset) => offset >= Fragment.Offset && offset < Fragment.Offset + Fragment.Length;
}
