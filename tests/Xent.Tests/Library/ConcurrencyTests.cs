namespace Xent.Tests.Library;

/// <summary>
/// Calls from many threads at once, as a server scoring requests makes them: the library's workers serve one parallel
/// call at a time and the others run on their callers' threads, so every call must give the bits it gives alone,
/// whichever path it took, and a call that throws (a bad target, found by the parallel pre-pass) must not disturb the
/// calls around it.
/// </summary>
public class ConcurrencyTests
{
    private sealed record Problem(string Name, Func<byte[]> Run);

    private static byte[] Bits<T>(params T[][] arrays) where T : unmanaged =>
        [.. arrays.SelectMany(a => System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan()).ToArray())];

    private static Problem[] Problems()
    {
        var random = new Random(11);
        float[] Floats(int n) => [.. Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 8 - 4))];
        long[] Targets(int n, int c) => [.. Enumerable.Range(0, n).Select(i => i % 9 == 4 ? -100L : random.Next(c))];

        float[] rows = Floats(512 * 3000);
        long[] rowTargets = Targets(512, 3000);
        BFloat16[] image = [.. Floats(2 * 21 * 64 * 64).Select(v => (BFloat16)v)];
        long[] imageTargets = Targets(2 * 64 * 64, 21);
        Half[] wide = [.. Floats(4 * 70_001).Select(v => (Half)v)];
        long[] wideTargets = Targets(4, 70_001);
        float[] probabilities = [.. Floats(512 * 3000).Select(Math.Abs)];
        float[] weight = [.. Enumerable.Range(0, 3000).Select(i => 0.5f + i % 4)];
        return
        [
            new("float32 rows, smoothing, weights", () =>
            {
                var (loss, grad) = (new float[1], new float[rows.Length]);
                Functional.CrossEntropy<float, long>(rows, [512, 3000], rowTargets, [512], loss, Reduction.Mean, weight, -100, 0.1, grad);
                return Bits(loss, grad);
            }),
            new("bfloat16 K-dim, per position", () =>
            {
                var (loss, grad) = (new BFloat16[imageTargets.Length], new BFloat16[image.Length]);
                Functional.CrossEntropy<BFloat16, long>(image, [2, 21, 64, 64], imageTargets, [2, 64, 64], loss, Reduction.None, gradInput: grad);
                return Bits(loss, grad);
            }),
            new("float16 long rows", () =>
            {
                var (loss, grad) = (new Half[1], new Half[wide.Length]);
                Functional.CrossEntropy<Half, long>(wide, [4, 70_001], wideTargets, [4], loss, gradInput: grad);
                return Bits(loss, grad);
            }),
            new("probability targets", () =>
            {
                var (loss, grad) = (new float[1], new float[rows.Length]);
                Functional.CrossEntropy<float>(rows, [512, 3000], probabilities, loss, Reduction.Sum, gradInput: grad);
                return Bits(loss, grad);
            }),
            new("NLL", () =>
            {
                var (loss, grad) = (new float[1], new float[rows.Length]);
                Functional.NllLoss<float, long>(rows, [512, 3000], rowTargets, [512], loss, Reduction.Mean, weight, -100, grad);
                return Bits(loss, grad);
            }),
            new("log-softmax", () =>
            {
                var output = new float[rows.Length];
                Functional.LogSoftmax<float>(rows, [512, 3000], 1, output);
                return Bits(output);
            }),
            new("a bad target among many", () =>
            {
                long[] bad = [.. rowTargets];
                bad[300] = 3000;
                var grad = new float[rows.Length];
                var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
                    Functional.CrossEntropy<float, long>(rows, [512, 3000], bad, [512], new float[1], gradInput: grad));
                Assert.StartsWith("Target 3000 is out of bounds.", e.Message);
                Assert.All(grad, v => Assert.Equal(0f, v));
                return [];
            }),
        ];
    }

    [Fact]
    public async Task CallsFromManyThreadsGiveTheBitsOfCallsAlone()
    {
        Problem[] problems = Problems();
        byte[][] alone = [.. problems.Select(p => p.Run())];
        const int Threads = 8, CallsEach = 12;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var start = new Barrier(Threads);
        Task[] tasks = [.. Enumerable.Range(0, Threads).Select(thread => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            for (int call = 0; call < CallsEach; call++)
            {
                int k = (thread * 5 + call * 3) % problems.Length;
                try
                {
                    if (!problems[k].Run().AsSpan().SequenceEqual(alone[k]))
                    {
                        failures.Enqueue($"thread {thread}, call {call}: {problems[k].Name} gave other bits");
                    }
                }
                catch (Exception e)
                {
                    failures.Enqueue($"thread {thread}, call {call}: {problems[k].Name}: {e.GetType().Name}: {e.Message}");
                }
            }
        }, TaskCreationOptions.LongRunning))];
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromMinutes(5));
        Assert.Empty(failures);
    }
}
