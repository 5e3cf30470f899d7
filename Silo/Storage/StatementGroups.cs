using System.Threading.Channels;

namespace ShopAstro.Silo.Storage;

/// <summary>
/// The gathering half of grouped storage calls: items queued by many grains are handed to <c>send</c> in groups of up
/// to <see cref="MaxGroup"/>, with at most <c>lanes</c> groups in flight; while they run, the next group gathers. What
/// a group means (a transaction of writes, a round trip of reads) is the sender's.
/// </summary>
internal sealed class StatementGroups<T> : IAsyncDisposable
{
    /// <summary>The most items in one group.</summary>
    internal const int MaxGroup = 64;

    private readonly Channel<T> _queue = Channel.CreateUnbounded<T>();
    private readonly Func<List<T>, Task> _send;
    private readonly Task[] _lanes;
    private long _groups;
    private long _items;

    /// <param name="lanes">Groups in flight at once; with 0, nothing is sent (tests hand groups to the sender themselves).</param>
    /// <param name="send">Sends one group; it must settle every item, and not throw.</param>
    public StatementGroups(int lanes, Func<List<T>, Task> send)
    {
        _send = send;
        _lanes = Enumerable.Range(0, lanes).Select(_ => Task.Run(RunLaneAsync)).ToArray();
    }

    /// <summary>Groups sent so far, and the items they held (for tests and diagnostics).</summary>
    public (long Groups, long Items) Sent => (Interlocked.Read(ref _groups), Interlocked.Read(ref _items));

    /// <summary>False once the queue is shutting down: the caller fails the item.</summary>
    public bool TryQueue(T item) => _queue.Writer.TryWrite(item);

    /// <summary>Counts a group about to be sent.</summary>
    public void Counting(int items)
    {
        Interlocked.Increment(ref _groups);
        Interlocked.Add(ref _items, items);
    }

    /// <summary>What is queued is still sent; then the lanes end.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAll(_lanes);
    }

    private async Task RunLaneAsync()
    {
        var group = new List<T>(MaxGroup);
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync())
        {
            group.Clear();
            while (group.Count < MaxGroup && reader.TryRead(out var item))
            {
                group.Add(item);
            }

            if (group.Count > 0)
            {
                await _send(group);
            }
        }
    }
}
