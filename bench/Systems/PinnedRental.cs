using System.Buffers;

namespace NativeZcopy.Bench.Systems;

/// <summary>A rented array and the pin that keeps it still for native code.</summary>
/// <param name="Array">The rented array.</param>
/// <param name="Pin">The pin taken with <see cref="System.Memory{T}.Pin"/>.</param>
internal readonly record struct PinnedRental(byte[] Array, MemoryHandle Pin);
