using System.Diagnostics;
using System.Globalization;

namespace Xent.Bench.Compare;

/// <summary>
/// <c>floor</c>: the copy floor alone, at the table's buffer sizes, as min / median / max over many runs,
/// to see how steady this machine's memory bandwidth is before reading ratios against it.
/// </summary>
internal static class FloorCommand
{
    public static int Run()
    {
        const int Runs = 25;
        int threads = Environment.ProcessorCount;
        Console.WriteLine($"copy floor, {threads} threads, {Runs} runs after a warm-up; GB/s = bytes copied per second (traffic is twice that)");
        foreach (int megaFloats in new[] { 2, 16, 131 })
        {
            var source = Problem.Create(rows: megaFloats * 1000, classes: 1000, weighted: false).Input;
            var destination = new float[source.Length];
            CopyFloor.Copy(source, destination);
            var gbs = new double[Runs];
            var watch = new Stopwatch();
            for (int i = 0; i < Runs; i++)
            {
                watch.Restart();
                CopyFloor.Copy(source, destination);
                gbs[i] = CopyFloor.GigabytesPerSecond(source.Length * (long)sizeof(float), watch.Elapsed.TotalMilliseconds);
            }

            Array.Sort(gbs);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{source.Length * 4 / 1e6,7:0.0} MB: min {gbs[0]:0.0}  median {gbs[Runs / 2]:0.0}  max {gbs[^1]:0.0} GB/s"));
        }

        return 0;
    }
}
