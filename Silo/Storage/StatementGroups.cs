using System.Threading.Channels;

namespace ShopAstro.Silo.Storage;

/// <summary>One item of a grouped storage call: settled with its result, or failed, exactly once.</summary>
internal interface IGroupedStatement<in TResult>
{
    void Settle(TResult result);

    void Fail(Exception exception);
}

/// <summary>
/// The gathering half of grouped storage calls: items queued by many grains are handed to <c>send</c> in groups of up
/// to <see cref="MaxGroup"/>, with at most <c>lanes</c> groups in flight; while they run, the next group gathers. What
/// a group means (a transaction of writes, a round trip of reads) is the sender's; settling is this class's: every item
/// of a group is settled with its result once the sender has returned them all, or failed with what the sender threw.
/// </summary>
internal sealed class StatementGroups<T, TResult> : IAsyncDisposable
    where T : IGroupedStatement<TResult>
{
    /// <summary>The most items in one group.</summary>
    internal const int MaxGroup = 64;

    private readonly Channel<T> _queue = Channel.CreateUnbounded<T>();
    private readonly Func<List<T>, Task<TResult[]>> _send;
    private readonly Func<T, Exception?>? _refuse;
    private readonly Comparison<T>? _order;
    private readonly Task[] _lanes;
    private long _groups;
    private long _items;

    /// <param name="lanes">Groups in flight at once; with 0, nothing is sent (tests hand groups to <see cref="SendAsync"/> themselves).</param>
    /// <param name="send">Sends one group and returns one result per item, in the group's order; throws if the group failed.</param>
    /// <param name="refuse">Why an item is not to be sent (it is failed with that, before the group goes), or null.</param>
    /// <param name="order">The order of the items in the group the sender is given.</param>
    public StatementGroups(int lanes, Func<List<T>, Task<TResult[]>> send, Func<T, Exception?>? refuse = null, Comparison<T>? order = null)
    {
        _send = send;
        _refuse = refuse;
        _order = order;
        _lanes = Enumerable.Range(0, lanes).Select(_ => Task.Run(RunLaneAsync)).ToArray();
    }

    /// <summary>Groups sent so far, and the items they held (for tests and diagnostics).</summary>
    public (long Groups, long Items) Sent => (Interlocked.Read(ref _groups), Interlocked.Read(ref _items));

    /// <summary>Queues the item; once the queue is shutting down it is failed with <paramref name="closed"/> instead.</summary>
    public void Queue(T item, Func<Exception> closed)
    {
        if (!_queue.Writer.TryWrite(item))
        {
            item.Fail(closed());
        }
    }

    /// <summary>What is queued is still sent; then the lanes end.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAll(_lanes);
    }

    /// <summary>
    /// Sends one group: every item in it is settled or failed when this returns, and this never throws (a lane that
    /// sent a failing group goes on with the next).
    /// </summary>
    internal async Task SendAsync(List<T> group)
    {
        var due = group;
        try
        {
            if (_refuse is not null)
            {
                due = new List<T>(group.Count);
                foreach (var item in group)
                {
                    if (_refuse(item) is { } refused)
                    {
                        item.Fail(refused);
                    }
                    else
                    {
                        due.Add(item);
                    }
                }
            }

            if (due.Count == 0)
            {
                return;
            }

            if (_order is not null)
            {
                // Sorted in a list of its own, not in the lane's (refusing already made one).
                if (ReferenceEquals(due, group))
                {
                    due = [.. due];
                }

                due.Sort(_order);
            }

            Interlocked.Increment(ref _groups);
            Interlocked.Add(ref _items, due.Count);
            var results = await _send(due);
            if (results.Length != due.Count)
            {
                throw new InvalidOperationException($"The store answered {results.Length} of {due.Count} statements.");
            }

            for (var i = 0; i < due.Count; i++)
            {
                due[i].Settle(results[i]);
            }
        }
        catch (Exception exception)
        {
            // Every item of the group (settling is once only: those refused keep their reason).
            foreach (var item in group)
            {
                item.Fail(exception);
            }
        }
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
                await SendAsync(group);
            }
        }
    }
}
