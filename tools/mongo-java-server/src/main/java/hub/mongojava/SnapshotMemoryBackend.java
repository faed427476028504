package hub.mongojava;

import java.util.ArrayList;
import java.util.List;

import de.bwaldvogel.mongo.backend.QueryResult;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.wire.message.MongoMessage;
import de.bwaldvogel.mongo.wire.message.MongoQuery;

/**
 * The in-memory backend, one command at a time, each reply a deep copy taken before the next
 * command runs.
 *
 * <p>Why: mongo-java-server's collections lock each operation, but replies hold the stored
 * documents themselves (findAndModify with {@code new: true} returns the live document, find
 * batches list them) and are encoded after the lock is released. A concurrent update on another
 * connection then shows in, or tears, a reply: 10 concurrent
 * {@code findOneAndUpdate({_id}, {$inc: {epoch: 1}}, {returnDocument: 'after'})} returned
 * duplicate epochs (e.g. 1,2,4,4,6,6,...). MongoDB returns each caller the document as its own
 * update left it. Serialising commands and copying replies gives MongoDB's answer; the
 * interleaving of separate commands from concurrent clients is unchanged.
 */
final class SnapshotMemoryBackend extends MemoryBackend {
    private final Object lock = new Object();

    @Override
    public Document handleMessage(MongoMessage message) {
        synchronized (lock) {
            return copy(super.handleMessage(message));
        }
    }

    @Override
    public QueryResult handleQuery(MongoQuery query) {
        synchronized (lock) {
            QueryResult result = super.handleQuery(query);
            List<Document> documents = new ArrayList<>();
            for (Document document : result) {
                documents.add(copy(document));
            }
            return new QueryResult(documents, result.getCursorId());
        }
    }

    private static Document copy(Document document) {
        return document == null ? null : document.cloneDeeply();
    }
}
