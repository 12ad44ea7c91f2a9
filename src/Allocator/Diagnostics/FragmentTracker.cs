using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading;
using NativeZcopy.SideTable;

namespace NativeZcopy.Diagnostics;

/// <summary>
/// The diagnostic mode of one <see cref="ZcopyAllocator"/>: records the fragments of its tracked folio
/// lives with their allocation stacks, refuses a second release of one of them, lists the outstanding
/// ones and reports those outstanding too long as leaked.
/// </summary>
/// <remarks>
/// <para>
/// <b>What is tracked.</b> Sampling is by folio life, not by fragment: when a folio is mapped or reissued
/// in place, one life in <see cref="SampleRate"/> is marked with <see cref="PageSideTable.TrackedBit"/>
/// in its side-table entry, and every fragment cut from a marked life is recorded. The hot paths of
/// untracked lives (and of allocators with tracking off) are unchanged but for a test of a bit of an
/// entry already in a register; marked lives take this class's slow paths. A rate of 1 tracks everything.
/// </para>
/// <para>
/// <b>Refs.</b> A record counts the references its holders have: 1 from the allocation, +1 for each
/// <c>NativePages.Get</c> of an address inside the fragment, -1 for each <c>Put</c> of the fragment or of
/// an address inside it. When it reaches zero the record is released; a further Put or Get of it is a
/// double release (or a use after release) and is refused with <see cref="InvalidOperationException"/>
/// before the page count moves, even while the folio still has other references. An address of a
/// tracked folio that lies in no fragment (the unused tail) is refused the same way.
/// </para>
/// <para>
/// <b>Leaks.</b> A struct has no finalizer, so "leaked" is defined by age: a fragment outstanding longer
/// than the leak age when a check runs (periodically from a timer, on <see cref="CheckForLeaks"/>, and
/// for every outstanding fragment, whatever its age, when the allocator is disposed) is reported once
/// through the allocator's event and counted.
/// </para>
/// <para>
/// <b>Concurrency.</b> Every record and the folio map are owned by <see cref="_lock"/>. A tracked Put
/// drops the record's ref under the lock before it drops the page count, so the page count of a
/// tracked life never reaches zero while a record of it still has refs; hence a life's records are all
/// released before the folio can be reissued or unmapped, and a new life at the same address never
/// meets an old one's records. Stacks are captured before the lock is taken and formatted after it
/// is dropped, only when a fragment is listed or reported.
/// </para>
/// </remarks>
internal sealed class FragmentTracker : IDisposable
{
    /// <summary>Owns <see cref="_folios"/>, every record and <see cref="_outstanding"/>.</summary>
    private readonly Lock _lock = new();

    /// <summary>Tracked folio lives with recorded fragments, by folio base address.</summary>
    private readonly Dictionary<nint, TrackedFolio> _folios = new();

    /// <summary>
    /// The allocator whose <see cref="ZcopyAllocator.FragmentLeaked"/> reports go to, held weakly: the side table
    /// keeps the folios, their owner keeps this tracker, and a strong reference would keep an allocator dropped
    /// without Dispose alive for good (the diagnostics hunt). Long (tracking resurrection), so a Dispose that an
    /// application's finalizer calls still reports.
    /// </summary>
    private readonly WeakReference<ZcopyAllocator> _owner;

    /// <summary>Checks for leaks periodically; null when the leak age is infinite.</summary>
    private readonly Timer? _timer;

    /// <summary>Folio lives started, for the 1-in-N sample. Interlocked.</summary>
    private long _lives;

    /// <summary>Fragments reported as leaked. Interlocked.</summary>
    private long _leaked;

    /// <summary>Records with refs. Owned by <see cref="_lock"/>; read with Volatile.</summary>
    private int _outstanding;

    /// <summary>
    /// Set by <see cref="Dispose"/> before its final check. Owned by <see cref="_lock"/>: a record made after
    /// the check saw the map reports itself (<see cref="OnCarved"/>), so every fragment outstanding at Dispose
    /// is reported once.
    /// </summary>
    private bool _disposed;

    /// <summary>Creates a tracker recording one folio life in <paramref name="sampleRate"/>, reporting to <paramref name="owner"/>.</summary>
    public FragmentTracker(int sampleRate, TimeSpan leakAge, ZcopyAllocator owner)
    {
        SampleRate = sampleRate;
        LeakAge = leakAge;
        _owner = new WeakReference<ZcopyAllocator>(owner, trackResurrection: true);
        if (leakAge != Timeout.InfiniteTimeSpan)
        {
            // The timer holds the tracker weakly, and stops once the allocator is gone (OnTimer): an allocator
            // dropped without Dispose must stay collectable, and its folios, which keep this tracker, must not
            // keep a timer walking records for nobody.
            // Half the age, so a leak is reported within half its age of reaching it; at least 1 s, since a check
            // walks every record under the lock tracked Gets and Puts take (an age under 2 s is reported up to
            // 1 s late); at most 30 s, so a leak under a long age is reported within 30 s of reaching it.
            TimeSpan period = TimeSpan.FromTicks(Math.Clamp(leakAge.Ticks / 2, TimeSpan.TicksPerSecond, 30 * TimeSpan.TicksPerSecond));
            _timer = new Timer(static state => OnTimer((WeakReference<FragmentTracker>)state!), new WeakReference<FragmentTracker>(this), period, period);
        }
    }

    /// <summary>One folio life in this many is tracked.</summary>
    public int SampleRate { get; }

    /// <summary>Outstanding longer than this at a check is a leak; infinite turns off the periodic check.</summary>
    public TimeSpan LeakAge { get; }

    /// <summary>Fragments reported as leaked so far.</summary>
    public long LeakedCount => Interlocked.Read(ref _leaked);

    /// <summary>Set by Dispose (also the allocator's finalizer's), or by the timer's last tick once its allocator was collected; volatile, read by tests.</summary>
    private volatile bool _timerStopped;

    /// <summary>True once the periodic check stopped: its allocator was disposed, finalized or collected (for tests).</summary>
    internal bool TimerStopped => _timerStopped;

    /// <summary>Tracked fragments that still hold a reference.</summary>
    public int OutstandingCount => Volatile.Read(ref _outstanding);

    /// <summary>True when the folio life about to start should be tracked.</summary>
    public bool SampleNextLife() => SampleRate == 1 || (Interlocked.Increment(ref _lives) - 1) % SampleRate == 0;

    /// <summary>
    /// Test hook: runs first in <see cref="OnCarved"/>, so a test can make a record fail as an out-of-memory would.
    /// A plain property: a test sets it before it shares the allocator with other threads.
    /// </summary>
    internal Action<BioVec>? BeforeRecordForTests { get; set; }

    /// <summary>
    /// Records a fragment just cut from a tracked folio life. Called by the arena, lock dropped. When it
    /// throws (out of memory), nothing was recorded, and the arena gives the fragment's reference back.
    /// </summary>
    /// <param name="fragment">The fragment just cut.</param>
    /// <remarks>Not inlined, so that its frame tops every recorded stack whatever the JIT does (tests find the
    /// library's frames below it); recording takes a stack walk, so a call more costs nothing that shows.</remarks>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public void OnCarved(in BioVec fragment)
    {
        BeforeRecordForTests?.Invoke(fragment);
        var record = new FragmentRecord(fragment, new StackTrace(fNeedFileInfo: false), Stopwatch.GetTimestamp());
        lock (_lock)
        {
            if (!_folios.TryGetValue(fragment.Page, out TrackedFolio? folio) || folio.Generation != fragment.Generation)
            {
                // A previous life's list is gone once its last record was released (see the remarks), so
                // a different generation here can only be a list this method is about to replace.
                folio = new TrackedFolio(fragment.Generation);
                _folios[fragment.Page] = folio;
            }

            folio.Add(record);
            _outstanding++;

            // Dispose made its final check before this record was made: report it, as that check would have
            // (a piece cut while Dispose ran on another thread).
            if (!_disposed)
            {
                return;
            }

            record.LeakReported = true;
        }

        // Reported from the thread pool, as the timer's checks are: this Alloc has recorded its piece and must
        // not fail now, which a handler that throws (it must not) would make it do after the record was made.
        Interlocked.Increment(ref _leaked);
        OutstandingFragment leaked = Describe([(record, 1)], Stopwatch.GetTimestamp())[0];
        ThreadPool.UnsafeQueueUserWorkItem(static state => state.Tracker.Report(state.Leaked), (Tracker: this, Leaked: leaked), preferLocal: false);
    }

    /// <summary>
    /// Takes one more reference on its page and on the tracked fragment holding <paramref name="address"/>,
    /// both under the lock.
    /// </summary>
    /// <remarks>
    /// Both under the lock, page first, so the two counts move together: with the page's reference taken
    /// after the lock was dropped, a racing final Put (a use after release) could take the record down to one
    /// while the page reached zero, the folio be reissued in place, and the refused Get's undo then drop a
    /// record of the new life (the diagnostics hunt). The page's add is one compare-and-swap, and takes no lock.
    /// </remarks>
    /// <exception cref="InvalidOperationException">No live fragment holds the address.</exception>
    public static void Get(long entry, nint address, Action<long, nint> addPageRef)
    {
        FragmentTracker tracker = TrackerOf(entry);
        lock (tracker._lock)
        {
            FragmentRecord record = tracker.FindLive(entry, address);
            addPageRef(entry, address);
            record.Refs++;
        }
    }

    /// <summary>
    /// Drops one reference on the tracked fragment holding <paramref name="address"/>. The caller then
    /// drops the page's.
    /// </summary>
    /// <exception cref="InvalidOperationException">No live fragment holds the address: a double release.</exception>
    public static void Release(long entry, nint address)
    {
        FragmentTracker tracker = TrackerOf(entry);
        lock (tracker._lock)
        {
            tracker.DropRef(entry, tracker.FindLive(entry, address));
        }
    }

    /// <summary>
    /// True when a live tracked fragment of the entry's folio life holds <paramref name="address"/>; false for
    /// an address no live fragment holds, or a life that has ended.
    /// </summary>
    public static bool Holds(long entry, nint address)
    {
        if (TrackerOrNull(entry) is not { } tracker)
        {
            return false;
        }

        lock (tracker._lock)
        {
            return tracker.TryFindLive(entry, address, out _);
        }
    }

    /// <summary>
    /// The address to look a zero-length piece up by: one inside the live fragment it names. Such a piece has
    /// no byte of its own, so it names the fragment holding its address or the one holding the byte before it;
    /// a slice at one fragment's end and a slice at the start of the next are the same value (the cross-feature
    /// hunt found the end slice releasing the next holder's fragment). One candidate: its address. None: the
    /// piece's own, for the usual refusal.
    /// </summary>
    /// <returns>False when two live fragments meet at the address: which one the piece names cannot be told.</returns>
    public static bool TryAddressOfEmpty(long entry, in BioVec piece, out nint address)
    {
        address = piece.Address;
        if (TrackerOrNull(entry) is not { } tracker)
        {
            return true;
        }

        lock (tracker._lock)
        {
            bool at = tracker.TryFindLive(entry, address, out FragmentRecord? holding);
            bool before = piece.Offset > 0 && tracker.TryFindLive(entry, address - 1, out FragmentRecord? ending) && !ReferenceEquals(ending, holding);
            if (before)
            {
                address--;
            }

            return !(at && before);
        }
    }

    /// <summary>Every tracked fragment that still holds a reference.</summary>
    public IReadOnlyList<OutstandingFragment> Snapshot()
    {
        long now = Stopwatch.GetTimestamp();
        var live = new List<(FragmentRecord Record, int Refs)>();
        lock (_lock)
        {
            foreach (TrackedFolio folio in _folios.Values)
            {
                foreach (FragmentRecord record in folio.Records)
                {
                    if (record.Refs > 0)
                    {
                        live.Add((record, record.Refs));
                    }
                }
            }
        }

        return Describe(live, now);
    }

    /// <summary>
    /// Reports every tracked fragment outstanding for at least <paramref name="age"/> and not reported
    /// before. Returns how many were reported now.
    /// </summary>
    public int CheckForLeaks(TimeSpan age)
    {
        long now = Stopwatch.GetTimestamp();
        long threshold = (long)(age.TotalSeconds * Stopwatch.Frequency);
        var leaked = new List<(FragmentRecord Record, int Refs)>();
        lock (_lock)
        {
            foreach (TrackedFolio folio in _folios.Values)
            {
                foreach (FragmentRecord record in folio.Records)
                {
                    if (record.Refs > 0 && !record.LeakReported && now - record.AllocatedAt >= threshold)
                    {
                        record.LeakReported = true;
                        leaked.Add((record, record.Refs));
                    }
                }
            }
        }

        // Every fragment picked is reported even if a handler throws: each is marked reported already, so one
        // skipped now would never be reported. The first failure is thrown after the last report.
        Interlocked.Add(ref _leaked, leaked.Count);
        ExceptionDispatchInfo? failure = null;
        foreach (OutstandingFragment fragment in Describe(leaked, now))
        {
            try
            {
                Report(fragment);
            }
            catch (Exception error)
            {
                failure ??= ExceptionDispatchInfo.Capture(error);
            }
        }

        failure?.Throw();
        return leaked.Count;
    }

    /// <summary>Stops the periodic check and reports every fragment still outstanding.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
        }

        _timer?.Dispose();
        _timerStopped = true;
        CheckForLeaks(TimeSpan.Zero);
    }

    private static void OnTimer(WeakReference<FragmentTracker> weak)
    {
        if (!weak.TryGetTarget(out FragmentTracker? tracker))
        {
            return;
        }

        if (!tracker._owner.TryGetTarget(out _))
        {
            // Collected without Dispose: nobody can hear a report, and the folios keeping this tracker stay
            // mapped for the process's life, so stop walking their records.
            tracker._timer!.Dispose();
            tracker._timerStopped = true;
            return;
        }

        tracker.CheckForLeaks(tracker.LeakAge);
    }

    /// <summary>Raises the owner's <see cref="ZcopyAllocator.FragmentLeaked"/>, if the owner is still there.</summary>
    private void Report(OutstandingFragment fragment)
    {
        if (_owner.TryGetTarget(out ZcopyAllocator? owner))
        {
            owner.OnFragmentLeaked(fragment);
        }
    }

    /// <summary>
    /// The tracker of the folio life <paramref name="entry"/> names. The caller found the entry in the table,
    /// but the life may have ended since (its last reference dropped by a racing release) and the descriptor
    /// been unregistered or given to another run: that is the caller's piece already released, and says so
    /// with the same exception as a release <see cref="FindLive"/> does not find.
    /// </summary>
    private static FragmentTracker TrackerOf(long entry) =>
        TrackerOrNull(entry)
        ?? throw new InvalidOperationException(
            $"The fragment's folio life (entry 0x{entry:X}) ended before its tracker was reached: the fragment was already released.");

    /// <summary>The tracker of the entry's folio life, or null when the descriptor no longer holds a folio's life (it ended).</summary>
    private static FragmentTracker? TrackerOrNull(long entry) => (PageSideTable.Run(entry).Owner as Arenas.FolioOwner)?.Tracker;

    /// <summary>The public view of records picked under the lock; stacks are formatted here, outside it.</summary>
    private static List<OutstandingFragment> Describe(List<(FragmentRecord Record, int Refs)> records, long now)
    {
        var list = new List<OutstandingFragment>(records.Count);
        foreach ((FragmentRecord record, int refs) in records)
        {
            list.Add(new OutstandingFragment(record.Fragment, record.AllocationStackTrace, Stopwatch.GetElapsedTime(record.AllocatedAt, now), refs));
        }

        return list;
    }

    /// <summary>The live record holding <paramref name="address"/> in the entry's folio life. Lock held.</summary>
    private FragmentRecord FindLive(long entry, nint address)
    {
        if (TryFindLive(entry, address, out FragmentRecord? record))
        {
            return record;
        }

        throw new InvalidOperationException(
            $"Address 0x{address:X} lies in no live fragment of a tracked folio: the fragment was already released " +
            "(a double release or a use after release), or the address was never handed out.");
    }

    /// <summary>The live record holding <paramref name="address"/> in the entry's folio life, if any. Lock held.</summary>
    private bool TryFindLive(long entry, nint address, [NotNullWhen(true)] out FragmentRecord? record)
    {
        nint folioBase = PageSideTable.Run(entry).Base;
        record = null;
        if (_folios.TryGetValue(folioBase, out TrackedFolio? folio) && folio.Generation == PageSideTable.GenerationOf(entry))
        {
            record = folio.Find((int)(address - folioBase));
        }

        if (record is { Refs: > 0 })
        {
            return true;
        }

        record = null;
        return false;
    }

    /// <summary>Drops a ref of a live record and forgets its folio life when that was the last. Lock held.</summary>
    private void DropRef(long entry, FragmentRecord record)
    {
        if (--record.Refs > 0)
        {
            return;
        }

        _outstanding--;
        nint folioBase = PageSideTable.Run(entry).Base;
        TrackedFolio folio = _folios[folioBase];
        if (--folio.Live == 0)
        {
            _folios.Remove(folioBase);
        }
    }
}
