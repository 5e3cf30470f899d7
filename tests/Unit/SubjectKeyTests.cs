using ShopAstro.Grains.Interfaces;

namespace ShopAstro.Tests.Unit;

/// <summary>The subject key written into a caller's buffer (for lease lookups without a string) is the grain key.</summary>
public sealed class SubjectKeyTests
{
    [Theory]
    [InlineData("s1", "u1")]
    [InlineData("store.a_b-c", "shopper:42")]
    public void Written_in_a_buffer_it_is_the_grain_key(string storeId, string subjectId)
    {
        Span<char> buffer = stackalloc char[SubjectKey.StackLength];
        Assert.Equal(SubjectKey.Of(storeId, subjectId), SubjectKey.Of(storeId, subjectId, buffer).ToString());
    }

    [Fact]
    public void The_stack_length_holds_the_key_of_the_longest_valid_ids()
    {
        var (storeId, subjectId) = (new string('s', 128), new string('u', 128));
        Span<char> buffer = stackalloc char[SubjectKey.StackLength];
        var key = SubjectKey.Of(storeId, subjectId, buffer);
        Assert.True(key.Overlaps(buffer));
        Assert.Equal(SubjectKey.Of(storeId, subjectId), key.ToString());
    }

    [Fact]
    public void A_key_longer_than_the_buffer_is_a_new_string()
    {
        Span<char> buffer = stackalloc char[8];
        var key = SubjectKey.Of("store-1", "subject-1", buffer);
        Assert.False(key.Overlaps(buffer));
        Assert.Equal("store-1/subject-1", key.ToString());
    }
}
