import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import org.openprovenance.prov.interop.InteropFramework;
import org.openprovenance.prov.model.Document;

/**
 * One JVM for many documents: each line of standard input is "IN" or "IN<TAB>OUT"; ProvToolbox
 * reads IN (its format from its extension), writes OUT if given, and one line answers on
 * standard output: "ok N" (N statements read) or "error MESSAGE". The library's own chatter goes
 * to standard error, so the answers stay one line each.
 */
public class Driver {
    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
        System.setOut(System.err);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] parts = line.split("\t");
            try {
                InteropFramework framework = new InteropFramework();
                Document doc = framework.readDocumentFromFile(parts[0]);
                if (doc == null) {
                    throw new IllegalStateException("no document read");
                }
                if (parts.length > 1) {
                    framework.writeDocument(parts[1], doc);
                }
                out.println("ok " + doc.getStatementOrBundle().size());
            } catch (Throwable e) {
                out.println("error " + (e.getClass().getName() + ": " + e.getMessage()).replaceAll("\\s+", " "));
            }
        }
    }
}
