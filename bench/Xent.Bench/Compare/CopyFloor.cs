namespace Xent.Bench.Compare;

/// <summary>
/// The copy floor: the time to copy the logits once with every core, one contiguous chunk per core.
/// A loss pass must at least read the logits (and, with a gradient, write as many bytes), so this is the
/// memory-bandwidth bound a fused kernel is measured against.
/// </summary>
internal static class CopyFloor
{
    public static void Copy(float[] source, float[] destination)
    {
        int workers = Environment.ProcessorCount;
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, k =>
        {
            var (start, length) = Problem.Chunk(source.Length, k, workers);
            source.AsSpan(start, length).CopyTo(destination.AsSpan(start, length));
        });
    }

    /// <summary>Bytes copied per second, in GB/s (10^9); the memory traffic is twice that (read + write).</summary>
    public static double GigabytesPerSecond(long bytes, double milliseconds) => bytes / (milliseconds * 1e6);
}
