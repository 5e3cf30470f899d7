using ShopAstro.Silo.Storage;

namespace ShopAstro.Tests.Durability;

/// <summary>
/// The gathering mechanism of grouped reads and writes (Silo/Storage/StatementGroups.cs) settles every item exactly once:
/// with its own result when the sender answered the whole group, failed when it threw or answered part of it, failed with
/// its own reason when refused; and a lane whose group failed goes on sending the next ones.
/// </summary>
public sealed class StatementGroupsTests
{
    private sealed class Item(int value) : IGroupedStatement<string>
    {
        private readonly TaskCompletionSource<string> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Value { get; } = value;

        public Task<string> Result => _done.Task;

        public void Settle(string result) => _done.TrySetResult(result);

        public void Fail(Exception exception) => _done.TrySetException(exception);
    }

    [Fact]
    public async Task Each_item_gets_the_result_at_its_place_in_the_order_the_sender_was_given()
    {
        List<int>? sent = null;
        await using var groups = new StatementGroups<Item, string>(0, group =>
        {
            sent = group.Select(i => i.Value).ToList();
            return Task.FromResult(group.Select(i => $"r{i.Value}").ToArray());
        }, order: static (a, b) => a.Value.CompareTo(b.Value));
        var items = new[] { new Item(3), new Item(1), new Item(2) };

        await groups.SendAsync([.. items]);

        Assert.Equal([1, 2, 3], sent);
        Assert.Equal(["r3", "r1", "r2"], await Task.WhenAll(items.Select(i => i.Result)));
        Assert.Equal((1L, 3L), groups.Sent);
    }

    [Fact]
    public async Task A_sender_that_throws_fails_every_item_of_its_group_and_the_lane_sends_the_next_group()
    {
        var calls = 0;
        await using var groups = new StatementGroups<Item, string>(1, group =>
            Interlocked.Increment(ref calls) == 1
                ? throw new InvalidOperationException("the store is down")
                : Task.FromResult(group.Select(i => "stored").ToArray()));
        var first = new Item(1);
        groups.Queue(first, () => new ObjectDisposedException("groups"));

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => first.Result.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("the store is down", failure.Message);

        var second = new Item(2);
        groups.Queue(second, () => new ObjectDisposedException("groups"));
        Assert.Equal("stored", await second.Result.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_sender_that_answers_part_of_its_group_fails_all_of_it()
    {
        await using var groups = new StatementGroups<Item, string>(0, group => Task.FromResult(new[] { "only one" }));
        var items = new[] { new Item(1), new Item(2) };

        await groups.SendAsync([.. items]);

        foreach (var item in items)
        {
            await Assert.ThrowsAsync<InvalidOperationException>(() => item.Result);
        }
    }

    [Fact]
    public async Task A_refused_item_fails_with_its_reason_and_is_not_sent()
    {
        List<int>? sent = null;
        await using var groups = new StatementGroups<Item, string>(0, group =>
        {
            sent = group.Select(i => i.Value).ToList();
            return Task.FromResult(group.Select(_ => "stored").ToArray());
        }, refuse: item => item.Value == 2 ? new TimeoutException("too late") : null);
        var items = new[] { new Item(1), new Item(2), new Item(3) };

        await groups.SendAsync([.. items]);

        Assert.Equal([1, 3], sent);
        Assert.Equal("stored", await items[0].Result);
        Assert.Equal("too late", (await Assert.ThrowsAsync<TimeoutException>(() => items[1].Result)).Message);
        Assert.Equal("stored", await items[2].Result);
        Assert.Equal((1L, 2L), groups.Sent);
    }

    [Fact]
    public async Task An_item_queued_after_shutdown_is_failed_not_lost()
    {
        var groups = new StatementGroups<Item, string>(1, group => Task.FromResult(group.Select(_ => "stored").ToArray()));
        await groups.DisposeAsync();
        var late = new Item(1);

        groups.Queue(late, () => new ObjectDisposedException("groups"));

        await Assert.ThrowsAsync<ObjectDisposedException>(() => late.Result.WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
