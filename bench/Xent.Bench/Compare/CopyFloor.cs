using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Xent.Bench.Compare;

/// <summary>
/// The memory floors a loss pass is measured against, each run with every core on one contiguous chunk per core:
/// the <b>copy floor</b> (read the logits once and write as many bytes: what forward+backward must at least move) and
/// the <b>read floor</b> (read the logits once: what a forward pass must at least move).
/// </summary>
/// <remarks>Buffers are pinned arrays (the pinned object heap), so raw addresses stay valid.</remarks>
internal static unsafe class CopyFloor
{
    public static void Copy(float[] source, float[] destination) =>
        Copy(Address(source), Address(destination), source.LongLength * sizeof(float));

    public static void Copy(nint source, nint destination, long bytes) => Copy(source, destination, bytes, Environment.ProcessorCount);

    /// <summary><see cref="Copy(nint, nint, long)"/> on <paramref name="workers"/> cores.</summary>
    public static void Copy(nint source, nint destination, long bytes, int workers)
    {
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, k =>
        {
            var (start, length) = Chunk(bytes, k, workers);
            Buffer.MemoryCopy((byte*)source + start, (byte*)destination + start, length, length);
        });
    }

    /// <summary>Reads every byte once: a wrapping 64-bit integer sum in four independent 512-bit accumulators (integer
    /// adds, so no floating-point assist or dependency chain can slow it below the memory). Returns the sum so the
    /// reads cannot be optimized away.</summary>
    public static ulong Read(nint source, long bytes)
    {
        int workers = Environment.ProcessorCount;
        var partial = new ulong[workers];
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, k =>
        {
            var (start, length) = Chunk(bytes, k, workers);
            partial[k] = Sum((byte*)source + start, length);
        });
        return partial.Aggregate(0UL, (a, b) => a + b);
    }

    /// <summary>Bytes per second, in GB/s (10^9). For the copy floor the memory traffic is twice that (read + write).</summary>
    public static double GigabytesPerSecond(long bytes, double milliseconds) => bytes / (milliseconds * 1e6);

    public static nint Address<T>(T[] pinned)
        where T : unmanaged => (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(pinned));

    /// <summary>The <paramref name="index"/>-th of <paramref name="count"/> chunks of <paramref name="bytes"/>, each a multiple of 64 bytes but the last.</summary>
    private static (long Start, long Length) Chunk(long bytes, int index, int count)
    {
        long start = bytes * index / count & ~63L;
        long end = index == count - 1 ? bytes : bytes * (index + 1) / count & ~63L;
        return (start, end - start);
    }

    private static ulong Sum(byte* p, long length)
    {
        Vector512<ulong> a0 = default, a1 = default, a2 = default, a3 = default;
        long i = 0;
        for (; i + 256 <= length; i += 256)
        {
            a0 += Vector512.Load((ulong*)(p + i));
            a1 += Vector512.Load((ulong*)(p + i + 64));
            a2 += Vector512.Load((ulong*)(p + i + 128));
            a3 += Vector512.Load((ulong*)(p + i + 192));
        }

        ulong sum = Vector512.Sum(a0 + a1 + a2 + a3);
        for (; i < length; i++)
        {
            sum += p[i];
        }

        return sum;
    }
}
