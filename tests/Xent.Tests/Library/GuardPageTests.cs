using System.Numerics;
using System.Runtime.InteropServices;

namespace Xent.Tests.Library;

/// <summary>The kernels read and write only inside the buffers they are given: every input and output is placed flush
/// against an inaccessible page, once ending at it and once starting after it, so that one element read or written past
/// either end stops the test process with a segmentation fault. (In the managed arrays of the other tests such a read
/// lands in the GC heap and goes unseen, except, rarely, at the end of a heap segment.) The results must also be
/// bit-identical to those computed on managed arrays: the kernels' paths depend on the buffers' alignment (streaming
/// stores start at the first whole line), their numbers must not.</summary>
/// <remarks>Linux only (mmap and mprotect from libc); skipped elsewhere.</remarks>
public sealed class GuardPageTests
{
    public sealed class LinuxFactAttribute : FactAttribute
    {
        public LinuxFactAttribute()
        {
            if (!OperatingSystem.IsLinux())
            {
                Skip = "uses mmap and mprotect, Linux only";
            }
        }
    }

    [LinuxFact]
    public void ClassTargetsStayInsideTheirBuffers()
    {
        var rnd = new Random(11);
        foreach (var (n, c, d) in Shapes(rnd))
        {
            ClassTargets<float, long>(rnd, n, c, d);
            ClassTargets<Half, int>(rnd, n, c, d);
            ClassTargets<BFloat16, long>(rnd, n, c, d);
            ClassTargets<double, byte>(rnd, n, Math.Min(c, 200), d);
        }
    }

    [LinuxFact]
    public void ProbabilityTargetsAndLogSoftmaxStayInsideTheirBuffers()
    {
        var rnd = new Random(12);
        foreach (var (n, c, d) in Shapes(rnd))
        {
            ProbabilityTargets<float>(rnd, n, c, d);
            ProbabilityTargets<Half>(rnd, n, c, d);
            ProbabilityTargets<BFloat16>(rnd, n, c, d);
            LogSoftmax<float>(rnd, n, c, d);
            LogSoftmax<BFloat16>(rnd, n, c, d);
            LogSoftmax<Half>(rnd, n, c, d);
        }
    }

    [LinuxFact]
    public void LinearCrossEntropyStaysInsideItsBuffers()
    {
        var rnd = new Random(13);
        foreach (var (rows, hidden, vocab) in new[] { (1, 1, 1), (3, 5, 17), (7, 33, 130), (40, 64, 613), (129, 17, 1000) })
        {
            float[] h = Values(rnd, rows * hidden, 1), w = Values(rnd, vocab * hidden, 1), b = Values(rnd, vocab, 1);
            long[] t = Targets(rnd, rows, vocab);
            var options = new LinearCrossEntropyOptions { LabelSmoothing = 0.1f, IgnoreIndex = -1 };
            (LinearCrossEntropyResult R, float[] Gh, float[] Gw, float[] Gb) Managed()
            {
                float[] gh = new float[h.Length], gw = new float[w.Length], gb = new float[b.Length];
                var r = Functional.LinearCrossEntropy<float, long>(h, w, b, hidden, t,
                    new LinearCrossEntropyOutputs { GradHidden = gh, GradWeight = gw, GradBias = gb }, options);
                return (r, gh, gw, gb);
            }

            var expected = Managed();
            foreach (bool head in new[] { false, true })
            {
                using var m = new GuardedMemory(head);
                Span<float> gh = m.Zeros<float>(h.Length), gw = m.Zeros<float>(w.Length), gb = m.Zeros<float>(b.Length);
                var r = Functional.LinearCrossEntropy<float, long>(m.Copy(h), m.Copy(w), m.Copy(b), hidden, m.Copy(t),
                    new LinearCrossEntropyOutputs { GradHidden = gh, GradWeight = gw, GradBias = gb }, options);
                string what = $"linear ({rows},{hidden},{vocab}) head {head}";
                Assert.True(expected.R == r, $"{what}: {r} against {expected.R}");
                AssertSame(expected.Gh, gh, what + " grad hidden");
                AssertSame(expected.Gw, gw, what + " grad weight");
                AssertSame(expected.Gb, gb, what + " grad bias");
            }
        }
    }

    /// <summary>Rows of every SIMD remainder and of long vocabularies, K-dim layouts, and two of more than 12 MB, where
    /// the gradient is streamed.</summary>
    private static IEnumerable<(int N, int C, int D)> Shapes(Random rnd)
    {
        for (int i = 0; i < 24; i++)
        {
            yield return (rnd.Next(1, 5), rnd.Next(1, 131), 1);
        }

        yield return (3, 4097, 1);
        yield return (2, 33000, 1);
        for (int i = 0; i < 16; i++)
        {
            yield return (rnd.Next(1, 3), rnd.Next(1, 40), rnd.Next(2, 300));
        }

        // One group of 16 positions, and a last pair of groups that is one group.
        yield return (1, 1, 16);
        yield return (1, 5, 20);
        yield return (2, 3, 48);
        yield return (2, 21, 1024);
        yield return (1, 3, 65536 + 17);
        yield return (4096, 800, 1);
        yield return (1, 21, 160000);
    }

    private static void ClassTargets<T, TTarget>(Random rnd, int n, int c, int d)
        where T : unmanaged
        where TTarget : unmanaged, IBinaryInteger<TTarget>
    {
        T[] x = To<T>(Values(rnd, n * c * d, 8));
        TTarget[] t = [.. Targets(rnd, n * d, c).Select(v => v < 0 ? TTarget.CreateTruncating(typeof(TTarget) == typeof(byte) ? 255 : -100) : TTarget.CreateTruncating(v))];
        long ignore = typeof(TTarget) == typeof(byte) ? 255 : -100;
        nint[] shape = d > 1 ? [n, c, d] : [n, c];
        nint[] tshape = d > 1 ? [n, d] : [n];
        T[] w = rnd.Next(2) == 0 ? To<T>(Values(rnd, c, 0.5, 1)) : [];
        double eps = rnd.Next(3) == 0 ? 0.1 : 0;
        var reduction = (Reduction)rnd.Next(3);
        int lossLength = reduction == Reduction.None ? n * d : 1;
        T[] up = reduction == Reduction.None && rnd.Next(2) == 0 ? To<T>(Values(rnd, n * d, 1)) : [];
        bool nll = rnd.Next(4) == 0;
        string what = $"{typeof(T).Name}/{typeof(TTarget).Name} ({n},{c},{d}) {reduction} eps {eps} w {w.Length} up {up.Length} nll {nll}";

        void Call(ReadOnlySpan<T> xs, ReadOnlySpan<TTarget> ts, ReadOnlySpan<T> ws, ReadOnlySpan<T> ups, Span<T> loss, Span<T> grad)
        {
            if (nll)
            {
                Functional.NllLoss(xs, shape, ts, tshape, loss, reduction, ws, ignore, grad, ups);
            }
            else
            {
                Functional.CrossEntropy(xs, shape, ts, tshape, loss, reduction, ws, ignore, eps, grad, ups);
            }
        }

        T[] lossM = new T[lossLength], gradM = new T[x.Length];
        Call(x, t, w, up, lossM, gradM);
        foreach (bool head in new[] { false, true })
        {
            using var m = new GuardedMemory(head);
            Span<T> loss = m.Zeros<T>(lossLength), grad = m.Zeros<T>(x.Length);
            Call(m.Copy(x), m.Copy(t), m.Copy(w), m.Copy(up), loss, grad);
            AssertSame(lossM, loss, $"{what} head {head} loss");
            AssertSame(gradM, grad, $"{what} head {head} grad");
        }
    }

    private static void ProbabilityTargets<T>(Random rnd, int n, int c, int d)
        where T : unmanaged
    {
        T[] x = To<T>(Values(rnd, n * c * d, 8));
        T[] p = To<T>(Values(rnd, n * c * d, 0.5, 0.5));
        nint[] shape = d > 1 ? [n, c, d] : [n, c];
        T[] w = rnd.Next(2) == 0 ? To<T>(Values(rnd, c, 0.5, 1)) : [];
        double eps = rnd.Next(3) == 0 ? 0.1 : 0;
        var reduction = (Reduction)rnd.Next(3);
        int lossLength = reduction == Reduction.None ? n * d : 1;
        T[] up = reduction == Reduction.None && rnd.Next(2) == 0 ? To<T>(Values(rnd, n * d, 1)) : [];
        string what = $"probabilities {typeof(T).Name} ({n},{c},{d}) {reduction} eps {eps} w {w.Length} up {up.Length}";
        T[] lossM = new T[lossLength], gradM = new T[x.Length];
        Functional.CrossEntropy<T>(x, shape, p, lossM, reduction, w, eps, gradM, up);
        foreach (bool head in new[] { false, true })
        {
            using var m = new GuardedMemory(head);
            Span<T> loss = m.Zeros<T>(lossLength), grad = m.Zeros<T>(x.Length);
            Functional.CrossEntropy<T>(m.Copy(x), shape, m.Copy(p), loss, reduction, m.Copy(w), eps, grad, m.Copy(up));
            AssertSame(lossM, loss, $"{what} head {head} loss");
            AssertSame(gradM, grad, $"{what} head {head} grad");
        }
    }

    private static void LogSoftmax<T>(Random rnd, int n, int c, int d)
        where T : unmanaged
    {
        T[] x = To<T>(Values(rnd, n * c * d, 8));
        nint[] shape = d > 1 ? [n, c, d] : [n, c];
        T[] expected = new T[x.Length];
        Functional.LogSoftmax<T>(x, shape, 1, expected);
        foreach (bool head in new[] { false, true })
        {
            using var m = new GuardedMemory(head);
            Span<T> output = m.Zeros<T>(x.Length);
            Functional.LogSoftmax<T>(m.Copy(x), shape, 1, output);
            AssertSame(expected, output, $"log-softmax {typeof(T).Name} ({n},{c},{d}) head {head}");
        }
    }

    private static float[] Values(Random rnd, int count, double spread, double offset = 0) =>
        [.. Enumerable.Range(0, count).Select(_ => (float)(offset + (rnd.NextDouble() * 2 - 1) * spread))];

    /// <summary>Class indices below <paramref name="c"/>, a tenth of them −1 (ignored).</summary>
    private static long[] Targets(Random rnd, int count, int c) =>
        [.. Enumerable.Range(0, count).Select(_ => rnd.Next(10) == 0 ? -1L : rnd.Next(c))];

    private static T[] To<T>(float[] a)
        where T : unmanaged =>
        typeof(T) == typeof(Half) ? (T[])(object)a.Select(v => (Half)v).ToArray()
        : typeof(T) == typeof(BFloat16) ? (T[])(object)a.Select(v => (BFloat16)v).ToArray()
        : typeof(T) == typeof(double) ? (T[])(object)a.Select(v => (double)v).ToArray()
        : (T[])(object)a.ToArray();

    private static void AssertSame<T>(T[] expected, ReadOnlySpan<T> actual, string what)
        where T : unmanaged
    {
        Assert.Equal(expected.Length, actual.Length);
        ReadOnlySpan<byte> a = MemoryMarshal.AsBytes(expected.AsSpan()), b = MemoryMarshal.AsBytes(actual);
        if (!a.SequenceEqual(b))
        {
            int i = 0;
            while (i < expected.Length && MemoryMarshal.AsBytes(expected.AsSpan(i, 1)).SequenceEqual(MemoryMarshal.AsBytes(actual.Slice(i, 1))))
            {
                i++;
            }

            Assert.Fail($"{what}[{i}]: {actual[i]} against {expected[i]} on managed arrays");
        }
    }

    /// <summary>Buffers each in its own mapping, between two inaccessible pages, flush against the upper one
    /// (<c>head</c> false) or the lower one; unmapped on dispose.</summary>
    private sealed unsafe class GuardedMemory(bool head) : IDisposable
    {
        private const int ProtNone = 0, ProtReadWrite = 3, MapPrivateAnonymous = 0x22;
        private readonly List<(nint Address, nuint Length)> _maps = [];

        [DllImport("libc", SetLastError = true)]
        private static extern nint mmap(nint address, nuint length, int prot, int flags, int fd, nint offset);

        [DllImport("libc", SetLastError = true)]
        private static extern int mprotect(nint address, nuint length, int prot);

        [DllImport("libc", SetLastError = true)]
        private static extern int munmap(nint address, nuint length);

        public Span<T> Zeros<T>(int count)
            where T : unmanaged
        {
            nuint page = (nuint)Environment.SystemPageSize;
            nuint bytes = (nuint)count * (nuint)sizeof(T);
            nuint inner = (bytes + page - 1) / page * page;
            nuint length = inner + 2 * page;
            nint map = mmap(0, length, ProtReadWrite, MapPrivateAnonymous, -1, 0);
            Assert.True(map != -1, $"mmap failed: {Marshal.GetLastPInvokeError()}");
            _maps.Add((map, length));
            Assert.Equal(0, mprotect(map, page, ProtNone));
            Assert.Equal(0, mprotect(map + (nint)(page + inner), page, ProtNone));
            byte* start = head ? (byte*)map + page : (byte*)map + page + inner - bytes;
            return new Span<T>(start, count);
        }

        public Span<T> Copy<T>(T[] values)
            where T : unmanaged
        {
            Span<T> s = Zeros<T>(values.Length);
            values.CopyTo(s);
            return s;
        }

        public void Dispose()
        {
            foreach (var (address, length) in _maps)
            {
                munmap(address, length);
            }
        }
    }
}
