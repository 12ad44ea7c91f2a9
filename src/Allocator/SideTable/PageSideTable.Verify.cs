using System;
using System.Collections.Generic;
using System.Threading;

namespace NativeZcopy.SideTable;

/// <content>The consistency check of the side table, for tests and diagnostics.</content>
internal static partial class PageSideTable
{
    /// <summary>
    /// Walks the whole table and checks that it describes itself consistently: every registered
    /// descriptor has a page-aligned range whose slots all name it under its current generation, a
    /// count that is positive (or zero only while its owner holds it on the pending-unmap list), and
    /// every non-zero slot of every leaf names a registered descriptor covering that page. The free list
    /// holds only unregistered descriptors, each once, and the live-run count matches.
    /// Returns every registered run, so a caller can check them against the OS's own list of mappings.
    /// </summary>
    /// <remarks>
    /// Only meaningful while no thread maps, unmaps, reissues or releases runs: those steps update slots
    /// and states without the registration lock this walk holds.
    /// </remarks>
    /// <exception cref="InvalidOperationException">The first inconsistency found, described.</exception>
    public static IReadOnlyList<PageRunSnapshot> Verify()
    {
        var runs = new List<PageRunSnapshot>();
        lock (s_registrationLock)
        {
            nuint pageSize = (nuint)1 << s_pageShift;
            var registered = new bool[s_nextIndex];
            for (int index = 0; index < s_nextIndex; index++)
            {
                ref PageRun run = ref s_chunks[index >> ChunkBits]![index & ((1 << ChunkBits) - 1)];
                if (run.Owner is null)
                {
                    continue;
                }

                registered[index] = true;
                long state = Volatile.Read(ref run.State);
                uint generation = GenerationOfState(state);
                int count = CountOfState(state);
                long entry = ((long)generation << 32) | (uint)(index + 1);
                if (run.Base == 0 || ((nuint)run.Base & (pageSize - 1)) != 0 || run.Length == 0 || (run.Length & (pageSize - 1)) != 0)
                {
                    throw Inconsistent($"descriptor {index} has a range that is not whole pages: 0x{run.Base:X}, {run.Length} bytes");
                }

                long firstSlot = Find(run.Base);
                entry |= firstSlot & TrackedBit;
                if (count < 0 || (count == 0 && !run.Owner.KeepsDead(entry)))
                {
                    throw Inconsistent($"descriptor {index} (0x{run.Base:X}) has count {count} and is neither waiting for an unmap nor kept for reuse");
                }

                for (nuint offset = 0; offset < run.Length; offset += pageSize)
                {
                    long slot = Find(run.Base + (nint)offset);
                    if (slot != entry)
                    {
                        throw Inconsistent($"the slot of 0x{run.Base + (nint)offset:X} holds 0x{slot:X}, not descriptor {index}'s entry 0x{entry:X}");
                    }
                }

                runs.Add(new PageRunSnapshot(entry, run.Base, run.Length, count, run.Owner));
            }

            if (runs.Count != s_liveRuns)
            {
                throw Inconsistent($"{runs.Count} descriptors are registered but the live-run count is {s_liveRuns}");
            }

            if (s_freeIndices.Length < s_nextIndex)
            {
                throw Inconsistent($"the free list holds {s_freeIndices.Length} slots for the {s_nextIndex} descriptors handed out: an Unregister would have to allocate");
            }

            var free = new HashSet<int>();
            for (int i = 0; i < s_freeCount; i++)
            {
                int index = s_freeIndices[i];
                if (index >= s_nextIndex || registered[index] || !free.Add(index))
                {
                    throw Inconsistent($"free-list index {index} is registered, out of range or listed twice");
                }
            }

            if (runs.Count + s_freeCount + s_retiredIndices != s_nextIndex)
            {
                throw Inconsistent(
                    $"{runs.Count} registered, {s_freeCount} free and {s_retiredIndices} retired descriptors do not add up to the {s_nextIndex} handed out");
            }

            VerifyLeaves(registered);
        }

        return runs;
    }

    /// <summary>Every non-zero slot names a registered descriptor that covers the slot's page.</summary>
    private static void VerifyLeaves(bool[] registered)
    {
        for (int root = 0; root < s_leaves.Length; root++)
        {
            long[]? leaf = s_leaves[root];
            if (leaf is null)
            {
                continue;
            }

            for (int i = 0; i < leaf.Length; i++)
            {
                long slot = Volatile.Read(ref leaf[i]);
                if (slot == 0)
                {
                    continue;
                }

                int index = (int)((uint)slot & EntryIndexMask) - 1;
                ulong page = ((ulong)root << LeafBits) | (uint)i;
                ulong address = page << s_pageShift;
                if (index < 0 || index >= registered.Length || !registered[index])
                {
                    throw Inconsistent($"the slot of 0x{address:X} names descriptor {index}, which is not registered");
                }

                ref PageRun run = ref Run(slot);
                if (GenerationOf(slot) != GenerationOfState(Volatile.Read(ref run.State)) || address < (ulong)(nuint)run.Base || address >= (ulong)(nuint)run.Base + run.Length)
                {
                    throw Inconsistent($"the slot of 0x{address:X} holds a stale or foreign entry 0x{slot:X} for the run at 0x{run.Base:X}");
                }
            }
        }
    }

    private static InvalidOperationException Inconsistent(string what) => new($"Side table inconsistent: {what}.");
}
